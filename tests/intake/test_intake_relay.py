"""INTAKE_WRITER=process: API referrals written by `flask intake-writer` (here a thread
running the same loop), fed through Redis; each request answered as the thread answers it."""
import json
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from blueprints.api import group_commit, intake_relay
from referral_app.jobs import heartbeat
from referral_app.models import Referral, RefusedReferral
from tests.intake.conftest import referee


@pytest.fixture
def relayed(app, monkeypatch):
    """The app in process mode, its submissions list empty; start() runs a writer loop."""
    monkeypatch.setitem(app.config, "INTAKE_WRITER", "process")
    redis = intake_relay._redis(app)
    redis.delete(intake_relay._list(app))
    running = []

    class Relay:
        writer = group_commit.GroupCommit(app)

        def waiting(self) -> int:
            return intake_relay._redis(app).llen(intake_relay._list(app))

        def start(self):
            stop = threading.Event()
            thread = threading.Thread(target=intake_relay.serve, args=(app, stop, self.writer),
                                      daemon=True)
            thread.start()
            running.append((stop, thread))

        def stop(self):
            for stop, thread in running:
                stop.set()
                thread.join(timeout=10)
            running.clear()

    relay = Relay()
    yield relay
    relay.stop()
    redis.delete(intake_relay._list(app))


def post(client, n, **fields):
    return client.post("/api/v1/referrals", json=dict(
        {"program": "widgets", "referee": referee(n), "consent": True}, **fields))


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
    read (a phone in E.164, a deal value as an exact Decimal after crossing Redis as text)
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


def test_submissions_that_wait_together_are_written_as_one_group(app, relayed, api, world,
                                                                 db):
    clients = [api(world.referrer if i % 2 else world.partner) for i in range(4)]
    answers = [None] * 4

    def send(i):
        with app.app_context():
            answers[i] = post(clients[i], 10 + i)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for _ in range(2000):  # until all four wait in Redis (polling the list, not the clock)
        if relayed.waiting() == 4:
            break
        threading.Event().wait(0.01)
    relayed.start()
    for t in threads:
        t.join(timeout=30)
    assert [a.status_code for a in answers] == [201] * 4, [a.json for a in answers]
    assert (relayed.writer.groups, relayed.writer.submissions) == (1, 4)
    emails = {db.session.get(Referral, a.json["id"]).referee_email for a in answers}
    assert emails == {f"rhea{10 + i}@prospect.example" for i in range(4)}


def test_with_no_writer_running_the_request_gets_503_and_nothing_is_written_later(
        app, relayed, api, world, db, monkeypatch):
    monkeypatch.setitem(app.config, "GROUP_COMMIT_WAIT", 0.4)
    answer = post(api(world.referrer), 20)
    assert answer.status_code == 503 and answer.json["error"]["code"] == "unavailable"
    assert relayed.waiting() == 1
    relayed.start()  # a writer that starts late drops what its client gave up on
    for _ in range(2000):
        if relayed.waiting() == 0:
            break
        threading.Event().wait(0.01)
    relayed.stop()  # the loop ends after the group it took
    assert relayed.waiting() == 0 and relayed.writer.submissions == 0
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 0


def test_a_mistyped_intake_writer_stops_the_app_at_start():
    from tests.conftest import make_app

    with pytest.raises(ValueError, match="INTAKE_WRITER is 'proces'"):
        make_app(INTAKE_WRITER="proces")


def test_without_redis_a_request_gets_503_not_500(app, relayed, api, world, db, monkeypatch,
                                                 caplog):
    from redis import Redis

    unreachable = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    monkeypatch.setattr(intake_relay, "_redis", lambda _app: unreachable)
    answer = post(api(world.referrer), 30)
    assert answer.status_code == 503 and answer.json["error"]["code"] == "unavailable"
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 0
    # The operator sees why (a 503 is not logged as an error by Flask).
    assert any("relay to the writer failed" in r.getMessage() and "ConnectionError" in
               r.getMessage() for r in caplog.records)


def test_a_relay_that_fails_midway_is_not_sent_again(app, relayed, api, world, db,
                                                   monkeypatch):
    """An error met once the submission may have reached Redis answers 503 at once: the
    web side never sends a submission twice (the writer would record the copy as a
    refused duplicate). A client made by Redis.from_url has no retries; one given
    redis-py's Redis() default (3, with 1-10 s pauses) would fail this."""
    from redis.connection import AbstractConnection
    from redis.exceptions import ConnectionError as RedisConnectionError

    intake_relay._redis(app).ping()  # connected: only the pipeline is sent
    real_send, sent = AbstractConnection.send_packed_command, []

    def send_then_fail(connection, command, check_health=True):
        real_send(connection, command, check_health)
        sent.append(command)
        raise RedisConnectionError("connection reset after sending")

    monkeypatch.setattr(AbstractConnection, "send_packed_command", send_then_fail)
    began = time.monotonic()
    answer = post(api(world.referrer), 31)
    monkeypatch.undo()
    assert answer.status_code == 503 and answer.json["error"]["code"] == "unavailable"
    assert len(sent) == 1 and relayed.waiting() == 1  # pushed once, never again
    assert time.monotonic() - began < 1  # no pause before a retry
    assert db.session.scalar(select(func.count()).select_from(RefusedReferral)) == 0


def test_the_writer_reports_its_groups(app, relayed, api, world, db, caplog):
    relayed.start()
    client = api(world.referrer)
    for n in (40, 41):
        assert post(client, n).status_code == 201
    since = (0.0, 0, 0, 0.0)
    with caplog.at_level("INFO", logger=app.logger.name):
        intake_relay._report(app, relayed.writer, since)
    assert "2 referrals in 2 groups" in caplog.text and "1.0 a group" in caplog.text
    assert relayed.writer.cpu_seconds > 0


def test_a_message_the_writer_cannot_read_is_dropped_and_the_rest_written(
        app, relayed, api, world, db, caplog):
    intake_relay._redis(app).lpush(intake_relay._list(app), b"not json", b'{"reply": 1}')
    relayed.start()
    assert post(api(world.referrer), 50).status_code == 201
    assert caplog.text.count("cannot read") == 2


def test_a_field_this_writer_does_not_know_is_left_out(app, relayed, world, db):
    """Web workers of a newer release may be deployed before the writers."""
    redis, reply = intake_relay._redis(app), intake_relay._list(app) + ":reply:newer"
    redis.lpush(intake_relay._list(app), json.dumps({
        "reply": reply, "deadline": time.time() + 60, "user_id": world.referrer.id,
        "key": None, "hash": None, "submission": {
            "program": "widgets", "referee": referee(60), "referrer_id": world.referrer.id,
            "consent": True, "from_a_newer_release": 1}}))
    relayed.start()
    status, body = json.loads(redis.brpop([reply], timeout=20)[1])
    db.session.rollback()  # this session's snapshot predates the writer's commit (SQLite)
    assert status == 201 and db.session.get(Referral, body["id"]).referee_email == \
        referee(60)["email"]


def test_healthz_says_whether_an_intake_writer_is_running(app, relayed, client):
    redis = intake_relay._redis(app)
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
    from tests.conftest import is_postgres, make_app

    if not is_postgres():
        pytest.skip("plan_cache_mode is PostgreSQL's (SQLite has no plans to cache)")
    writer_app = make_app()
    intake_relay.plan_once(writer_app)
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
    monkeypatch.setattr(intake_relay, "plan_once", lambda a: calls.append(("plan_once", a)))
    monkeypatch.setattr(intake_relay, "serve", lambda a: calls.append(
        ("serve", a, gc.get_threshold())))
    before = gc.get_threshold()
    try:
        result = app.test_cli_runner().invoke(args=["intake-writer"])
    finally:
        gc.set_threshold(*before)
    assert result.exit_code == 0, result.output
    assert calls == [("plan_once", app), ("serve", app, intake_relay.WRITER_GC_THRESHOLD)]


def test_a_group_s_garbage_is_collected_once_every_answer_is_out(app, relayed, world, db,
                                                                  monkeypatch):
    """The writer frees each group's cyclic ORM garbage between groups, not mid-group."""
    redis, reply = intake_relay._redis(app), intake_relay._list(app) + ":reply:collect"
    message = json.dumps({
        "reply": reply, "deadline": time.time() + 60, "user_id": world.referrer.id,
        "key": None, "hash": None, "submission": {
            "program": "widgets", "referee": referee(70), "referrer_id": world.referrer.id,
            "consent": True}})
    collected = []
    monkeypatch.setattr(intake_relay.gc, "collect",
                        lambda generation=2: collected.append((generation, redis.llen(reply))))
    intake_relay.run_group(relayed.writer, redis, [message])
    assert collected == [(0, 1)]  # the young generation, with the answer already pushed
    status, _ = json.loads(redis.rpop(reply))
    assert status == 201


def test_reply_keys_are_unique_per_request_and_per_process(app, monkeypatch):
    """Each waiting request has a reply key of its own: a counter after a prefix drawn once
    per process, drawn again in a forked child (same pid never reuses the parent's)."""
    import os

    keys = {intake_relay._reply_key(app) for _ in range(1000)}
    assert len(keys) == 1000
    assert all(k.startswith(intake_relay._list(app) + ":reply:") for k in keys)
    parent = intake_relay._reply_key(app).rsplit(":", 1)[0]
    monkeypatch.setattr(os, "getpid", lambda: -1)  # as in a forked worker
    child = intake_relay._reply_key(app)
    assert child.rsplit(":", 1)[0] != parent and child.endswith(":0")
