"""Concurrent intakes on PostgreSQL: one lead per person, and no rep picked twice blindly."""
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from referral_app.errors import DomainError
from referral_app.models import Lead, Referral, RefusedReferral, SlaClock, User
from referral_app.services import assignment, intake
from referral_app.services import intake_checks as checks
from tests.conftest import is_postgres
from tests.intake.conftest import referee

pytestmark = pytest.mark.skipif(
    not is_postgres(), reason="needs PostgreSQL: SQLite runs one writer at a time, so "
                              "there is no race to test")


def race(app, db, submissions) -> list:
    """Run each (referrer_id, referee) in its own thread, app context and session, started
    together; each thread commits or rolls back as the views do."""
    start = threading.Barrier(len(submissions), timeout=20)
    results = [None] * len(submissions)

    def attempt(index, referrer_id, person):
        with app.app_context():
            try:
                start.wait()
                referral = intake.submit("widgets", person, source="api",
                                         referrer_id=referrer_id, consent=True)
                db.session.commit()
                results[index] = ("created", referral.lead.owner_id)
            except DomainError as exc:
                if intake.is_refusal(exc):
                    db.session.commit()
                else:
                    db.session.rollback()
                results[index] = (exc.code, None)
            except Exception as exc:  # surfaced by the assertion below, not lost in the thread
                db.session.rollback()
                results[index] = ("error", repr(exc))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt, args=(i, *s)) for i, s in enumerate(submissions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    db.session.expire_all()
    return results


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_the_same_referee_at_the_same_moment_yields_one_lead(app, world, db):
    results = race(app, db, [(world.referrer.id, referee()), (world.partner.id, referee())])
    assert sorted(code for code, _ in results) == ["created", "duplicate"], results
    assert count(db, Lead) == 1 and count(db, Referral) == 1 and count(db, SlaClock) == 1
    assert db.session.scalar(select(RefusedReferral.reason)) == "duplicate"


def test_when_both_pass_the_check_the_constraint_decides(app, world, db, monkeypatch):
    """Force the worst interleaving: both submissions pass the friendly check before either
    inserts. Only the unique open_email can then keep the second one out."""
    both_checked = threading.Barrier(2, timeout=20)
    real = checks.check_duplicate

    def check_then_wait(email, known=None):
        real(email, known)
        both_checked.wait()

    monkeypatch.setattr(checks, "check_duplicate", check_then_wait)
    results = race(app, db, [(world.referrer.id, referee()), (world.partner.id, referee())])
    assert sorted(code for code, _ in results) == ["created", "duplicate"], results
    assert count(db, Lead) == 1 and count(db, SlaClock) == 1
    assert db.session.scalar(select(Lead.open_email)) == "rhea1@prospect.example"


def test_two_intakes_at_once_go_to_two_reps(app, world, db, monkeypatch):
    """Both take a rep's turn before either inserts its lead: the row lock (SKIP LOCKED) hands
    the second one the next rep instead of the same one."""
    both_picked = threading.Barrier(2, timeout=20)
    real = assignment.assignment_event

    def pick_then_wait(lead, rep_id, at, *args, **kwargs):
        both_picked.wait()  # reached only once claim_next_rep has returned, in both threads
        return real(lead, rep_id, at, *args, **kwargs)

    monkeypatch.setattr(assignment, "assignment_event", pick_then_wait)
    results = race(app, db, [(world.referrer.id, referee(1)), (world.partner.id, referee(2))])
    owners = {owner for _, owner in results}
    assert owners == {rep.id for rep in world.reps}, results


def test_a_group_skips_a_rep_another_intake_holds(app, world, db):
    """claim_turns skips (SKIP LOCKED) a rep whose row a concurrent intake has locked: the
    whole group goes to the free rep instead of waiting for the held one."""
    held, free = world.reps
    locked, release = threading.Event(), threading.Event()

    def hold(rep_id):
        with app.app_context():
            db.session.execute(select(User).where(User.id == rep_id).with_for_update())
            locked.set()
            release.wait(20)
            db.session.rollback()
            db.session.remove()

    holder = threading.Thread(target=hold, args=(held.id,))
    holder.start()
    assert locked.wait(20)
    try:
        turns = assignment.claim_turns("Widget", 3, datetime.now(UTC))
        assert turns == [free.id] * 3
        db.session.commit()
    finally:
        release.set()
        holder.join(20)
