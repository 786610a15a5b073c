"""Group commit: a group of submissions answered as each would be alone, in one transaction."""
import threading
from concurrent.futures import Future
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from blueprints.api import group_commit
from referral_app.errors import Duplicate, NotFound, ValidationFailed
from referral_app.jobs import queues
from referral_app.jobs.queues import pending_jobs
from referral_app.jobs.rewards import referrals_submitted
from referral_app.models import (
    IdempotencyRecord,
    Lead,
    LeadEvent,
    Referral,
    RefusedReferral,
    SlaClock,
)
from referral_app.services import intake_batch, new_rows
from referral_app.services import intake_checks as checks
from referral_app.services import rewards as reward_service
from tests import factories as f
from tests.conftest import is_postgres
from tests.intake.conftest import referee

AT = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # a Tuesday afternoon


def sub(world, n=1, referrer=None, program="widgets", **fields):
    return intake_batch.Submission(program, referee(n, **fields), source="api",
                                   referrer_id=(referrer or world.referrer).id, consent=True,
                                   ip="203.0.113.9")


def count(db, model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_each_submission_gets_what_it_would_have_got_alone(world, db):
    f.lead(world.program, email="known@prospect.example")
    db.session.commit()
    group = [sub(world, 1), sub(world, 2, email="known@prospect.example"),
             sub(world, 3, email="not-an-email"), sub(world, 4, email="RHEA1@prospect.example"),
             sub(world, 5, program="nope"), sub(world, 6, referrer=world.partner)]
    out = intake_batch.submit_many(group, AT)
    jobs = pending_jobs()
    db.session.commit()
    assert [new_rows.model_of(o) for o in out] == [Referral, Duplicate, ValidationFailed, Duplicate, NotFound,
                                      Referral]
    assert "referee.email" in out[2].fields
    # The two refusals are on record for marketing; invalid input and no program are not.
    refused = db.session.scalars(select(RefusedReferral).order_by(RefusedReferral.id)).all()
    assert [(r.reason, r.email) for r in refused] == [
        ("duplicate", "known@prospect.example"), ("duplicate", "rhea1@prospect.example")]
    first, last = out[0], out[5]
    assert first.referee_email == "rhea1@prospect.example" and first.source == "api"
    assert first.code.referrer_id == world.referrer.id and last.code.referrer_id == world.partner.id
    # Reps take turns; each lead's first-attempt clock runs from its assignment.
    owners = [first.lead.owner_id, last.lead.owner_id]
    assert sorted(owners) == sorted(r.id for r in world.reps)
    for referral in (first, last):
        clock = db.session.scalar(select(SlaClock).where(SlaClock.lead_id == referral.lead.id))
        assert clock.kind == "first_attempt" and clock.status == "running"
        assert clock.started_at == AT and clock.due_at > AT
    # One rewards job for the group, not one per referral.
    group_jobs = [j for j in jobs if j["func"] == intake_batch.GROUP_SUBMITTED_JOB]
    assert [j["args"] for j in group_jobs] == [([first.id, last.id],)]
    assert not [j for j in jobs if j["func"].endswith(".referral_submitted")]


def test_a_group_of_one_enqueues_its_own_job_as_before(world, db):
    (referral,) = intake_batch.submit_many([sub(world)], AT)
    jobs = pending_jobs()
    db.session.commit()
    assert [j["args"] for j in jobs if j["func"].endswith(".referral_submitted")] == [
        (referral.id,)]


def test_velocity_counts_the_groups_earlier_referrals(world, db):
    world.program.velocity_per_hour = 2
    db.session.commit()
    out = intake_batch.submit_many([sub(world, n) for n in (1, 2, 3)], AT)
    db.session.commit()
    assert [(r.status, r.hold_reasons) for r in out] == [
        ("submitted", []), ("submitted", []), ("held", ["referrer_velocity"])]
    # The stored ones count for the next group.
    (later,) = intake_batch.submit_many([sub(world, 4)], AT)
    assert later.status == "held"


def test_a_conflict_in_the_flush_redoes_the_group_one_by_one(app, world, db, monkeypatch):
    """As when another process refers the same person between the checks and the write: the
    group gives up (no SAVEPOINT to roll back to) and the group commit submits each alone."""
    f.lead(world.program, email="rhea2@prospect.example")
    db.session.commit()
    monkeypatch.setattr(checks, "known_emails", lambda emails: set())
    with pytest.raises(intake_batch.GroupConflict):
        intake_batch.submit_many([sub(world, 1), sub(world, 2)], AT)
    db.session.rollback()
    requests = [group_commit.Request(sub(world, n), world.referrer.id, None, None, Future())
                for n in (1, 2, 3)]
    for r in requests:
        r.future.set_running_or_notify_cancel()
    group_commit.GroupCommit(app).commit(requests)  # in a session of its own
    db.session.rollback()  # this session's snapshot predates that commit (SQLite)
    out = [r.future.exception() or r.future.result() for r in requests]
    assert [type(o) for o in out] == [dict, Duplicate, dict]
    out = [db.session.get(Referral, o["id"]) if isinstance(o, dict) else o for o in out]
    assert count(db, Lead, Lead.email == "rhea2@prospect.example") == 1
    assert count(db, RefusedReferral, RefusedReferral.reason == "duplicate") == 1
    assert {out[0].lead.owner_id, out[2].lead.owner_id} == {r.id for r in world.reps}


def test_the_requests_are_answered_before_the_groups_job_is_sent(app, world, db, monkeypatch):
    """The job needs the commit, the answers do not wait for Redis: `answered` runs with
    every future done and nothing sent yet; the group's one job goes right after."""
    sent, seen = [], []
    monkeypatch.setattr(queues, "send_all", lambda jobs: sent.extend(jobs))
    requests = [group_commit.Request(sub(world, n), world.referrer.id, None, None, Future())
                for n in (1, 2)]
    for r in requests:
        r.future.set_running_or_notify_cancel()

    def answered():
        seen.append(([r.future.done() for r in requests], list(sent)))

    group_commit.GroupCommit(app).commit(requests, answered=answered)
    assert seen == [([True, True], [])]
    ids = [r.future.result()["id"] for r in requests]
    assert [j["func"] for j in sent] == [intake_batch.GROUP_SUBMITTED_JOB]
    assert sent[0]["args"][0] == ids


def test_group_jobs_follow_up_each_referral_and_isolate_a_failure(world, db, monkeypatch):
    out = intake_batch.submit_many([sub(world, 1), sub(world, 2)], AT)
    db.session.commit()
    ids = [r.id for r in out]
    assert referrals_submitted([*ids, 10 ** 9]) == {"ok": 2, "missing": 1}
    db.session.expire_all()
    assert all(db.session.get(Referral, i).followed_up_at is not None for i in ids)
    assert len({r.id for r in db.session.get(Referral, ids[0]).rewards}) == 1  # the give reward

    out = intake_batch.submit_many([sub(world, 3), sub(world, 4)], AT)
    db.session.commit()
    broken = out[0].id
    real_fire = reward_service.fire

    def fire(referral_id, trigger, at=None):
        if referral_id == broken:
            raise RuntimeError("payment provider down")
        return real_fire(referral_id, trigger, at=at)

    monkeypatch.setattr(reward_service, "fire", fire)
    assert referrals_submitted([r.id for r in out]) == {"enqueued alone": 1, "ok": 1}
    db.session.expire_all()
    assert db.session.get(Referral, broken).followed_up_at is None
    assert db.session.get(Referral, out[1].id).followed_up_at is not None



def test_a_groups_moves_to_mql_go_with_its_rewards_in_one_job(world, db):
    world.program.mql_on_arrival = True
    db.session.commit()
    out = intake_batch.submit_many([sub(world, 1), sub(world, 2)], AT)
    jobs = pending_jobs()
    db.session.commit()
    moves = list(db.session.scalars(select(LeadEvent.id).where(
        LeadEvent.lead_id.in_([r.lead.id for r in out]), LeadEvent.kind == "stage",
        LeadEvent.to_stage == "mql").order_by(LeadEvent.id)))
    assert len(moves) == 2
    assert [(j["func"], j["args"]) for j in jobs] == [
        (intake_batch.GROUP_SUBMITTED_JOB, ([r.id for r in out], moves))]
    assert referrals_submitted(*jobs[0]["args"]) == {"ok": 4}
    db.session.expire_all()
    assert all(db.session.get(LeadEvent, e).processed_at is not None for e in moves)
    assert all(db.session.get(Referral, r.id).followed_up_at is not None for r in out)

# The writer: real threads, so PostgreSQL (SQLite serialises writers: nothing to group).
needs_pg = pytest.mark.skipif(not is_postgres(), reason="concurrent requests need PostgreSQL")


def held_writer(app, monkeypatch, waiting: int):
    """The app's writer, its first group held until `waiting` more requests are queued, so
    the next group holds them all (what concurrency does, made certain)."""
    writer = group_commit.writer(app)
    real = intake_batch.submit_many
    first = threading.Event()

    def submit_many(subs, at):
        if not first.is_set():
            first.set()
            for _ in range(400):
                if writer._queue.qsize() >= waiting:
                    break
                threading.Event().wait(0.01)  # polling the queue, not the clock
        return real(subs, at)

    monkeypatch.setattr(intake_batch, "submit_many", submit_many)
    return writer


def post_together(app, api, world, n, keys=False):
    clients = [api(world.referrer if i % 2 else world.partner) for i in range(n)]
    answers = [None] * n
    start = threading.Barrier(n, timeout=20)

    def post(i):
        start.wait()
        with app.app_context():  # the client commits and expires this thread's session
            headers = {"Idempotency-Key": f"key-{i}"} if keys else {}
            answers[i] = clients[i].post("/api/v1/referrals", headers=headers, json={
                "program": "widgets", "referee": referee(100 + i), "consent": True})

    threads = [threading.Thread(target=post, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return answers


@needs_pg
def test_concurrent_requests_share_a_commit_and_each_gets_its_own_answer(app, api, world, db,
                                                                         monkeypatch):
    writer = held_writer(app, monkeypatch, waiting=7)
    groups, submissions = writer.groups, writer.submissions
    answers = post_together(app, api, world, 8, keys=True)
    assert [a.status_code for a in answers] == [201] * 8, [a.json for a in answers]
    assert (writer.groups - groups, writer.submissions - submissions) == (2, 8)
    for i, answer in enumerate(answers):
        referral = db.session.get(Referral, answer.json["id"])
        assert referral.referee_email == f"rhea{100 + i}@prospect.example"
        assert answer.json["lead"] == {"id": referral.lead.id, "stage": referral.lead.stage}
    # Each caller's key stored its own answer: a retry replays it.
    again = api(world.referrer).post("/api/v1/referrals", json={
        "program": "widgets", "referee": referee(101), "consent": True},
        headers={"Idempotency-Key": "key-1"})
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json == answers[1].json


@needs_pg
def test_a_group_that_fails_is_retried_one_by_one(app, api, world, db, monkeypatch):
    writer = held_writer(app, monkeypatch, waiting=5)
    held = intake_batch.submit_many

    def fails_in_company(subs, at):
        if len(subs) > 1:
            raise RuntimeError("a bug that only groups hit")
        return held(subs, at)

    monkeypatch.setattr(intake_batch, "submit_many", fails_in_company)
    groups = writer.groups
    answers = post_together(app, api, world, 6)
    assert [a.status_code for a in answers] == [201] * 6
    assert writer.groups - groups == 6  # the group of five rolled back, each retried alone
    assert count(db, Referral) == 6


@needs_pg
def test_a_request_that_waits_too_long_gets_503_and_is_withdrawn(app, api, world, db,
                                                                  monkeypatch):
    writer = group_commit.writer(app)
    release, started = threading.Event(), threading.Event()
    real = intake_batch.submit_many

    def stuck(subs, at):
        started.set()
        release.wait(20)
        return real(subs, at)

    monkeypatch.setattr(intake_batch, "submit_many", stuck)
    monkeypatch.setattr(writer, "wait", 0.3)
    alone, answers = api(world.referrer), {}

    def post_first():
        with app.app_context():
            answers["first"] = alone.post("/api/v1/referrals", json={
                "program": "widgets", "referee": referee(1), "consent": True})

    done = writer.submissions
    first = threading.Thread(target=post_first)
    first.start()
    assert started.wait(20)
    late = api(world.partner).post("/api/v1/referrals", json={
        "program": "widgets", "referee": referee(2), "consent": True})
    first.join(timeout=30)
    release.set()
    for _ in range(2000):  # until the writer has finished the group it had begun
        if writer.submissions > done:
            break
        threading.Event().wait(0.01)
    # Both waited too long. The first had begun, so it lands (a retry with its key replays
    # it); the late one had not, so it was withdrawn and nothing of it is stored.
    assert answers["first"].status_code == late.status_code == 503
    assert late.json["error"]["code"] == "unavailable"
    assert count(db, Referral, Referral.referee_email == "rhea1@prospect.example") == 1
    assert count(db, Referral, Referral.referee_email == "rhea2@prospect.example") == 0


def keyed(world, n, key, **fields):
    """A keyed request for referee n, its body hash the referee's (what request_hash gives)."""
    r = group_commit.Request(sub(world, n, **fields), world.referrer.id, key,
                             f"hash-of-{n}-{fields}", Future())
    r.future.set_running_or_notify_cancel()
    return r


def outcome(r):
    return r.future.exception() or r.future.result()


def test_the_writer_replays_a_key_answered_before_or_earlier_in_its_group(app, world, db):
    """A key repeated within one group is answered with its first answer, a key with a
    stored answer too, and neither is submitted again; another body under a used key is
    refused as a mismatch. Only new answers are stored."""
    first = keyed(world, 1, "k1")
    group_commit.GroupCommit(app).commit([first])
    db.session.rollback()  # this session's snapshot predates that commit (SQLite)
    created = outcome(first)
    assert isinstance(created, dict) and created["status"] == "submitted"
    group = [keyed(world, 1, "k1"),  # stored: replayed
             keyed(world, 2, "k2"), keyed(world, 2, "k2"),  # the second replays the first
             keyed(world, 3, "k3"), keyed(world, 4, "k3"),  # another body: a mismatch
             keyed(world, 5, "k1")]  # another body under a stored key: a mismatch
    group_commit.GroupCommit(app).commit(group)
    db.session.rollback()
    out = [outcome(r) for r in group]
    assert out[0] == group_commit.Replayed(201, created)
    assert isinstance(out[1], dict) and out[2] == group_commit.Replayed(201, out[1])
    assert isinstance(out[3], dict)
    assert [o.code for o in (out[4], out[5])] == ["idempotency_mismatch"] * 2
    assert count(db, Referral) == 3  # referees 1, 2 and 3, each once
    stored = {r.key: r.status_code for r in db.session.scalars(select(IdempotencyRecord))}
    assert stored == {"k1": 201, "k2": 201, "k3": 201}


def test_a_replayed_refusal_keeps_its_status_and_body(app, world, db):
    f.lead(world.program, email="known@prospect.example")
    db.session.commit()
    first = keyed(world, 1, "dup", email="known@prospect.example")
    group_commit.GroupCommit(app).commit([first])
    again = keyed(world, 1, "dup", email="known@prospect.example")
    group_commit.GroupCommit(app).commit([again])
    db.session.rollback()
    assert isinstance(outcome(first), Duplicate)
    assert outcome(again) == group_commit.Replayed(409, group_commit.error_body(outcome(first)))
    assert count(db, RefusedReferral, RefusedReferral.reason == "duplicate") == 1
