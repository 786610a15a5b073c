"""INTAKE_WRITER=process: API referrals written by `flask intake-writer` (here a thread
running the same loop), fed through a socket; each request answered as the thread answers
it. The writer's failures and the relay's own: tests/intake/test_intake_writer.py."""
import os
import socket
import threading
from decimal import Decimal
from multiprocessing.connection import Connection
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from blueprints.api import group_commit, intake_relay, intake_writer
from referral_app.jobs import queues
from referral_app.models import Referral, RefusedReferral
from referral_app.services import intake_batch
from tests.conftest import is_postgres
from tests.intake.conftest import post, referee


def test_the_writer_process_answers_as_the_thread_would(relayed, api, world, db):
    relayed.start()
    client = api(world.referrer)
    created = post(client, 1)
    assert created.status_code == 201, created.json
    referral = db.session.get(Referral, created.json["id"])
    assert referral.referee_email == "rhea1@prospect.example" and referral.source == "api"
    assert created.json == {"id": referral.id, "status": "submitted",
                            "code": referral.code.code,
                            "lead": {"id": referral.lead.id, "stage": referral.lead.stage}}
    # Refusals decided in the writer come back with their status, code and fields.
    again = post(client, 1)
    assert again.status_code == 409 and again.json["error"]["code"] == "duplicate"
    no_consent = post(client, 2, consent=False)
    assert no_consent.status_code == 422
    assert no_consent.json["error"]["code"] == "consent_required"
    nowhere = post(client, 3, program="no-such-program")
    assert nowhere.status_code == 404 and nowhere.json["error"]["code"] == "not_found"
    refused = db.session.scalars(select(RefusedReferral.reason).order_by(RefusedReferral.id))
    assert list(refused) == ["duplicate", "consent_required"]  # on record, as alone
    assert relayed.writer.submissions == 4


def test_what_the_api_validated_arrives_as_it_was_read(relayed, api, world, db):
    """The writer does not validate an API submission again: the values the API's schema
    read (a phone in E.164, a deal value as an exact Decimal after crossing the socket as text)
    are the ones stored."""
    relayed.start()
    created = post(api(world.referrer), 1, deal_value="1234.5", company_size=40,
                   note="  met at the fair  ",
                   referee=dict(referee(1), phone="(212) 555-0100", country="us"))
    assert created.status_code == 201, created.json
    referral = db.session.get(Referral, created.json["id"])
    assert referral.deal_value == Decimal("1234.50") and referral.company_size == 40
    assert (referral.referee_phone, referral.referee_country, referral.note) == \
        ("+12125550100", "US", "met at the fair")


def test_an_idempotency_key_is_stored_by_the_writer_and_replayed(relayed, api, world, db):
    relayed.start()
    client = api(world.referrer)
    first = client.post("/api/v1/referrals", headers={"Idempotency-Key": "relay-1"},
                        json={"program": "widgets", "referee": referee(5), "consent": True})
    again = client.post("/api/v1/referrals", headers={"Idempotency-Key": "relay-1"},
                        json={"program": "widgets", "referee": referee(5), "consent": True})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == first.json


class Waiting:
    """Four API referrals (numbers first..first+3) sent from threads, each waiting on its
    connection to `loop` before the test steps it; `answers` once `join`ed."""

    def __init__(self, app, api, world, loop, first: int):
        clients = [api(world.referrer if i % 2 else world.partner) for i in range(4)]
        self.answers = [None] * 4

        def send(i):
            with app.app_context():
                self.answers[i] = post(clients[i], first + i)

        self.threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
        for t in self.threads:
            t.start()
        for _ in range(2000):  # until all four wait on their connections (polling, no clock)
            if loop.waiting() == 4:
                break
            threading.Event().wait(0.01)

    def join(self) -> list:
        for t in self.threads:
            t.join(timeout=30)
        assert [a.status_code for a in self.answers] == [201] * 4, \
            [a.json for a in self.answers]
        return self.answers


def test_submissions_that_wait_together_are_written_as_one_group(app, relayed, api, world,
                                                                 db):
    loop = intake_writer.Loop(app, relayed.writer)
    try:
        waiting = Waiting(app, api, world, loop, 10)
        assert loop.step(timeout=0) == 4
        answers = waiting.join()
    finally:
        loop.close()
    assert (relayed.writer.groups, relayed.writer.submissions) == (1, 4)
    emails = {db.session.get(Referral, a.json["id"]).referee_email for a in answers}
    assert emails == {f"rhea{10 + i}@prospect.example" for i in range(4)}


def test_groups_written_back_to_back_send_their_jobs_as_one(app, relayed, api, world, db,
                                                           monkeypatch):
    """While submissions wait, a group's jobs are held; once none waits they go, the
    groups' rewards jobs as one job for all their referrals (RQ's enqueueing was a sixth
    of the writer's CPU). The hold's time limit is lifted here: no clock in the test."""
    if not is_postgres():  # the first group's answered requests write as the second group does
        pytest.skip("two groups in a row beside their requests need a database with more "
                    "than one writer (SQLite's deferred transactions collide: 'locked')")
    sent = []
    monkeypatch.setattr(queues, "send_all", lambda jobs: sent.append(jobs))
    monkeypatch.setattr(group_commit.HeldJobs, "HOLD_SECONDS", 3600)
    relayed.writer.largest = 2
    loop = intake_writer.Loop(app, relayed.writer)
    try:
        waiting = Waiting(app, api, world, loop, 20)
        assert loop.step(timeout=0) == 2 and sent == []  # two still wait: held
        assert loop.step(timeout=0) == 2 and sent == []  # (the last group's answers out)
        answers = waiting.join()
        assert loop.step(timeout=0) == 0  # none waits: sent
    finally:
        loop.close()
    ids = sorted(a.json["id"] for a in answers)
    assert [[(j["func"], sorted(j["args"][0])) for j in jobs] for jobs in sent] == \
        [[(intake_batch.GROUP_SUBMITTED_JOB, ids)]]
    assert relayed.writer.groups == 2


def test_a_closing_writer_sends_the_jobs_it_holds(app, relayed, monkeypatch):
    sent = []
    monkeypatch.setattr(queues, "send_all", lambda jobs: sent.append(jobs))
    loop = intake_writer.Loop(app, relayed.writer)
    job = dict(func=intake_batch.GROUP_SUBMITTED_JOB, args=([7, 8],), queue="default",
               job_id=None, at=None, retries=3)
    loop.held.add([job])
    assert sent == []
    loop.close()
    assert sent == [[job]]


def test_held_jobs_fall_due_after_their_time_or_size(app, monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(group_commit, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    held = group_commit.HeldJobs(group_commit.GroupCommit(app).send_jobs)
    assert not held and not held.due()
    held.add([dict(func=intake_batch.GROUP_SUBMITTED_JOB, args=([1, 2],), queue="default",
                   job_id=None, at=None, retries=3)])
    clock[0] += held.HOLD_SECONDS / 2
    assert held and not held.due()
    clock[0] += held.HOLD_SECONDS / 2
    assert held.due()  # held as long as it may be
    monkeypatch.setattr(queues, "send_all", lambda jobs: None)
    held.send()
    assert not held and not held.due()
    held.add([dict(func=intake_batch.GROUP_SUBMITTED_JOB, args=(list(range(held.LARGEST)),),
                   queue="default", job_id=None, at=None, retries=3)])
    assert held.due()  # as many referrals as one job should carry: due at once


def test_merged_jobs_keep_every_referral_and_move_in_order():
    def group_job(ids, moves=None):
        return dict(func=intake_batch.GROUP_SUBMITTED_JOB, args=(ids, moves) if moves else (ids,),
                    queue="default", job_id=None, at=None, retries=3)

    other = dict(func="referral_app.jobs.lead_events.stage_changed", args=(5,),
                 queue="default", job_id="stage-5", at=None, retries=3)
    assert group_commit.merged([group_job([1, 2])]) == [group_job([1, 2])]
    assert group_commit.merged([group_job([1, 2], [10]), other, group_job([3]),
                                group_job([4], [11, 12])]) == \
        [group_job([1, 2, 3, 4], [10, 11, 12]), other]
    assert group_commit.merged([group_job([1]), group_job([2])]) == [group_job([1, 2])]


def test_a_mistyped_intake_writer_stops_the_app_at_start():
    from tests.conftest import make_app

    with pytest.raises(ValueError, match="INTAKE_WRITER is 'proces'"):
        make_app(INTAKE_WRITER="proces")


def test_the_writer_reports_its_groups(app, relayed, api, world, db, caplog):
    relayed.start()
    client = api(world.referrer)
    for n in (40, 41):
        assert post(client, n).status_code == 201
    since = (0.0, 0, 0, 0.0)
    with caplog.at_level("INFO", logger=app.logger.name):
        intake_writer._report(app, relayed.writer, since)
    assert "2 referrals in 2 groups" in caplog.text and "1.0 a group" in caplog.text
    assert relayed.writer.cpu_seconds > 0


def test_healthz_says_whether_an_intake_writer_is_running(app, relayed, client):
    from referral_app.jobs import heartbeat
    from referral_app.jobs.queues import redis_connection

    with app.app_context():
        redis = redis_connection()
    redis.delete(heartbeat.intake_writer_key(app))
    body = client.get("/healthz").json
    assert body["intake_writer"] == "missing" and "intake_writer" in body["down"]
    relayed.start()
    for _ in range(2000):  # until the writer's first beat (polling Redis, not the clock)
        if redis.exists(heartbeat.intake_writer_key(app)):
            break
        threading.Event().wait(0.01)
    body = client.get("/healthz").json
    assert body["intake_writer"] == "ok" and "intake_writer" not in body.get("down", [])


def test_the_writer_process_has_postgresql_plan_its_statements_once(app):
    """`flask intake-writer` sets plan_cache_mode on its own connections, nobody else's."""
    from sqlalchemy import text

    from referral_app.extensions import db
    from tests.conftest import make_app

    if not is_postgres():
        pytest.skip("plan_cache_mode is PostgreSQL's (SQLite has no plans to cache)")
    writer_app = make_app()
    intake_writer.plan_once(writer_app)
    show = text("SHOW plan_cache_mode")
    with writer_app.app_context():
        assert db.session.scalar(show) == "force_generic_plan"
        db.session.rollback()
        db.engine.dispose()
    with app.app_context():
        assert db.session.scalar(show) == "auto"


def test_the_intake_writer_command_prepares_its_process_then_serves(app, monkeypatch):
    import gc

    calls = []
    monkeypatch.setattr(intake_writer, "plan_once", lambda a: calls.append(("plan_once", a)))
    monkeypatch.setattr(intake_writer, "serve", lambda a: calls.append(
        ("serve", a, gc.get_threshold())))
    before = gc.get_threshold()
    try:
        result = app.test_cli_runner().invoke(args=["intake-writer"])
    finally:
        gc.set_threshold(*before)
    assert result.exit_code == 0, result.output
    assert calls == [("plan_once", app), ("serve", app, intake_writer.WRITER_GC_THRESHOLD)]


def test_an_answer_is_read_whole_however_it_arrives():
    """read_message: one framed message (Connection.send_bytes' framing), in as many reads
    as it arrives in; EOFError when the writer closes mid-message; BlockingIOError when
    nothing comes within the connection's SO_RCVTIMEO."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        message = b'[201, {"id": 7}]' * 500  # larger than one small read
        framed = len(message).to_bytes(4, "big") + message
        theirs.sendall(framed[:3])  # not even the whole length yet
        read = []
        reader = threading.Thread(target=lambda: read.append(
            intake_relay.read_message(ours.fileno())))
        reader.start()
        theirs.sendall(framed[3:5000])
        theirs.sendall(framed[5000:])
        reader.join(timeout=30)
        assert read == [message]
        Connection(os.dup(theirs.fileno())).send_bytes(b"[201, {}]")
        assert intake_relay.read_message(ours.fileno()) == b"[201, {}]"
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, intake_relay._timeval(0.05))
        with pytest.raises(BlockingIOError):
            intake_relay.read_message(ours.fileno())
        theirs.sendall(framed[:100])
        theirs.shutdown(socket.SHUT_WR)
        with pytest.raises(EOFError):
            intake_relay.read_message(ours.fileno())
