"""Intake's writer remembers marketing's configuration for a few seconds per process: no
reads for it in the next group, a change in this process seen at once, one made elsewhere
within INTAKE_CONFIG_CACHE_SECONDS."""
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import event, inspect, select, text

from referral_app.errors import Conflict, ValidationFailed
from referral_app.models import Program, Referral, User
from referral_app.services import definitions, intake_batch, intake_config, new_rows, timed_cache
from tests import factories as f
from tests.conftest import is_postgres
from tests.intake.conftest import referee

AT = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # a Tuesday afternoon


def group(world, *numbers, program="widgets"):
    """Submissions of referees `numbers` by the world's referrer (or a referrer id)."""
    referrer_id = world if isinstance(world, int) else world.referrer.id
    return [intake_batch.Submission(program, referee(n), source="api",
                                    referrer_id=referrer_id, consent=True)
            for n in numbers]


def submit(db, subs):
    out = intake_batch.submit_many(subs, AT)
    db.session.commit()
    return out


class Reads:
    """The tables each statement of a block reads from (FROM clauses), counted."""

    def __init__(self, db):
        self.engine, self.statements = db.engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, *args):
        self.statements.append(" ".join(statement.split()).lower())

    def of(self, table: str) -> int:
        return sum(f"from {table} " in s + " " for s in self.statements
                   if s.startswith("select"))


def test_the_next_group_reads_no_configuration(world, db):
    submit(db, group(world, 1))  # makes the referrer's code
    submit(db, group(world, 4))  # reads it (a code just made is not remembered: its
    program_id, referrer_id = world.program.id, world.referrer.id
    db.session.close()           # transaction might still have rolled back)
    with Reads(db) as reads:
        out = intake_batch.submit_many(group(referrer_id, 2, 3), AT)
        in_session = {type(obj) for obj in db.session.identity_map.values()}  # before commit
        db.session.commit()
    assert all(new_rows.model_of(r) is Referral for r in out)
    # Users: not the referrer; on SQLite the reps in turn are read (one statement on
    # PostgreSQL that locks and writes them, assignment.claim_turns).
    assert [reads.of(t) for t in ("programs", "mql_definitions", "agreements",
                                  "referral_codes", "users")] == \
        [0, 0, 0, 0, 0 if is_postgres() else 1]
    assert out[0].program_id == program_id and out[0].code.referrer_id == referrer_id
    # The remembered copies stay detached. On PostgreSQL the group's rows are plain and read
    # them as they are: nothing of the configuration joins the session (merging it was a
    # sixth of the writer's CPU); on SQLite ORM rows point at merged copies of the session.
    cached = intake_config.for_app().get(("program", "widgets"))
    assert inspect(cached).detached and cached.slug == "widgets"
    assert (Program in in_session, User in in_session) == \
        ((False, False) if is_postgres() else (True, True))


def test_a_group_redone_alone_attaches_its_copies(world, db, monkeypatch):
    """A conflict makes ORM rows (intake.create): they point at merged copies, never at the
    remembered ones, which other groups keep reading."""
    submit(db, group(world, 1))  # remembers the program and the referrer
    submit(db, group(world, 4))  # and the referrer's code
    f.lead(world.program, email=referee(2)["email"])  # someone referred number 2 meanwhile
    db.session.commit()
    monkeypatch.setattr(intake_batch.checks, "known_emails", lambda emails: set())
    (out,) = submit(db, group(world, 2))
    assert out.code == "duplicate"
    cache = intake_config.for_app()
    for key in (("program", "widgets"), ("user", world.referrer.id)):
        assert inspect(cache.get(key)).detached


def test_a_change_committed_in_this_process_counts_at_once(world, db):
    submit(db, group(world, 1))
    program = db.session.get(Program, world.program.id)
    program.status = "paused"
    db.session.commit()
    out = submit(db, group(world, 2))
    assert isinstance(out[0], Conflict) and out[0].code == "program_inactive"


def test_a_referrer_changed_in_this_process_counts_at_once(world, db):
    submit(db, group(world, 1))
    referrer = db.session.get(User, world.referrer.id)
    referrer.email = referee(2)["email"]  # now referring themselves
    db.session.commit()
    out = submit(db, group(world, 2))
    assert isinstance(out[0], ValidationFailed) and out[0].code == "self_referral"


def test_a_new_definition_scores_the_next_group(world, db):
    submit(db, group(world, 1))
    definitions.save_definition("Widget", 10, [
        {"field": "country", "operator": "in", "value": "US", "points": 10}], ["Budget"])
    db.session.commit()
    lead = submit(db, group(world, 2))[0].lead
    assert (lead.score, lead.stage) == (10, "mql")


def test_a_change_made_elsewhere_counts_within_the_seconds(world, db, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(timed_cache, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    submit(db, group(world, 1))
    program_id, referrer_id = world.program.id, world.referrer.id
    db.session.close()  # SQLite: no transaction of ours in the other writer's way
    # Another process (plain SQL: no session here sees it) pauses the program.
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE programs SET status = 'paused' WHERE id = :id"),
                     {"id": program_id})
    clock[0] += 1  # within the 2 s: still the copy this process read
    assert new_rows.model_of(submit(db, group(referrer_id, 2))[0]) is Referral
    clock[0] += 2  # past them: read again
    out = submit(db, group(referrer_id, 3))
    assert isinstance(out[0], Conflict) and out[0].code == "program_inactive"


@pytest.mark.parametrize("seconds", [0])
def test_zero_seconds_remembers_nothing(app, world, db, monkeypatch, seconds):
    monkeypatch.setitem(app.config, "INTAKE_CONFIG_CACHE_SECONDS", seconds)
    app.extensions.pop("interlock.intake_config", None)
    submit(db, group(world, 1))
    with Reads(db) as reads:
        submit(db, group(world, 2))
    assert reads.of("programs") == 1
    assert db.session.scalar(select(Program.status).where(Program.id == world.program.id)) == "active"
