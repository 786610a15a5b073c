"""The relay between web workers and `flask intake-writer` when things go wrong: no writer,
a writer that restarts, goes away or is slow, a second writer, strangers and bad messages."""
import json
import os
import signal
import stat
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener

import pytest
from sqlalchemy import func, select

from blueprints.api import group_commit, intake_relay, intake_writer
from referral_app.models import Referral
from tests.intake.conftest import post, referee


def referrals(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Referral))


class FakeWriter:
    """Listens where the writer would and reads each message, answering only when told."""

    def __init__(self, app):
        self.where = intake_relay.address(app)
        self.listener = Listener(self.where, intake_relay.family(self.where),
                                 authkey=intake_relay.authkey(app))
        self.received, self.conns = [], []
        self.got = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            conn = self.listener.accept()
        except OSError:
            return
        self.conns.append(conn)
        self.received.append(conn.recv_bytes())
        self.got.set()

    def close(self):
        self.listener.close()


def test_with_no_writer_a_request_gets_503_and_nothing_is_written(app, relayed, api, world,
                                                                   db, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "GROUP_COMMIT_WAIT", 0.2)
    answer = post(api(world.referrer), 20)
    assert answer.status_code == 503 and answer.json["error"]["code"] == "unavailable"
    assert "cannot reach its writer" in answer.json["error"]["message"]
    assert referrals(db) == 0
    # The operator sees why (a 503 is not logged as an error by Flask).
    assert any("no writer at" in r.getMessage() for r in caplog.records)


def test_a_request_waits_for_a_writer_that_is_starting(app, relayed, api, world, db,
                                                       monkeypatch):
    """While a writer restarts (a deploy), requests keep trying to reach it for up to half
    of GROUP_COMMIT_WAIT instead of failing at once."""
    tried, real_sleep = threading.Event(), time.sleep
    monkeypatch.setattr(intake_relay.time, "sleep", lambda s: (tried.set(), real_sleep(s)))
    answers = []

    def send():
        with app.app_context():
            answers.append(post(api(world.referrer), 21))

    thread = threading.Thread(target=send)
    thread.start()
    assert tried.wait(30)  # the request found no writer and is trying again
    relayed.start()
    thread.join(timeout=30)
    assert answers[0].status_code == 201, answers[0].json
    assert referrals(db) == 1


def test_a_writer_that_goes_away_mid_request_gets_503_and_the_submission_is_not_resent(
        app, relayed, api, world, db, caplog):
    fake = FakeWriter(app)
    try:
        def close_after_reading():
            fake.got.wait(30)
            fake.conns[0].close()  # it may have written the submission: the web cannot know

        threading.Thread(target=close_after_reading, daemon=True).start()
        answer = post(api(world.referrer), 22)
    finally:
        fake.close()
    assert answer.status_code == 503 and answer.json["error"]["code"] == "unavailable"
    assert "retry with the same Idempotency-Key" in answer.json["error"]["message"]
    assert len(fake.received) == 1 and json.loads(fake.received[0])["submission"][
        "referee"]["email"] == referee(22)["email"]
    assert any("writer went away" in r.getMessage() for r in caplog.records)


def test_a_slow_writer_s_late_answer_never_reaches_the_next_request(app, relayed, api, world,
                                                                     db, monkeypatch):
    monkeypatch.setitem(app.config, "GROUP_COMMIT_WAIT", 0.3)
    client = api(world.referrer)
    fake = FakeWriter(app)
    try:
        busy = post(client, 23)
        assert busy.status_code == 503 and "busy" in busy.json["error"]["message"]
        try:  # the answer that comes too late, to a connection the request has closed
            fake.conns[0].send_bytes(json.dumps([201, {"id": -1}]).encode())
        except OSError:
            pass
    finally:
        fake.close()
    monkeypatch.setitem(app.config, "GROUP_COMMIT_WAIT", 30)
    relayed.start()
    created = post(client, 24)  # same thread: it must not read the late answer
    assert created.status_code == 201 and created.json["id"] != -1
    assert referrals(db) == 1


@pytest.mark.parametrize("failures, status", [(1, 201), (2, 503)])
def test_a_send_that_fails_is_sent_once_more_on_a_new_connection(app, relayed, api, world, db,
                                                                 monkeypatch, failures,
                                                                 status):
    """Nothing of a message whose send failed was read (a message is read whole or not at
    all), so it is sent again, once, on a new connection."""
    relayed.start()
    real, failed = intake_relay.RelayedWriter._connection, []

    class Broken:
        def send_bytes(self, data):
            raise BrokenPipeError("the writer closed this connection")

    def connection(writer, fresh=False):
        conn = real(writer, fresh)
        if len(failed) < failures:
            failed.append(conn)
            return Broken()
        return conn

    monkeypatch.setattr(intake_relay.RelayedWriter, "_connection", connection)
    answer = post(api(world.referrer), 32)
    monkeypatch.undo()
    assert answer.status_code == status, answer.json
    assert len(failed) == failures and len(set(map(id, failed))) == failures  # new each time
    assert referrals(db) == (1 if status == 201 else 0)


def test_a_request_after_the_writer_restarted_reconnects(app, relayed, api, world, db):
    client = api(world.referrer)
    relayed.start()
    assert post(client, 25).status_code == 201
    relayed.stop()  # its connections close with it
    relayed.start()
    assert post(client, 26).status_code == 201  # the thread's old connection is replaced
    assert referrals(db) == 2


def test_a_repeated_key_is_replayed_by_the_writer_not_looked_up_by_the_web_worker(
        app, relayed, api, world, db, monkeypatch):
    """The web side makes no replay read of its own under the group commit; the writer's
    replay crosses the socket with its status, body and mark."""
    from referral_app.services import idempotency

    def no_web_read(*_args, **_kwargs):
        raise AssertionError("the web worker read the key's record")

    monkeypatch.setattr(idempotency, "stored", no_web_read)
    relayed.start()
    client = api(world.referrer)
    key = {"Idempotency-Key": "relayed-1"}
    first = client.post("/api/v1/referrals", headers=key, json={
        "program": "widgets", "referee": referee(27), "consent": True})
    again = client.post("/api/v1/referrals", headers=key, json={
        "program": "widgets", "referee": referee(27), "consent": True})
    other = client.post("/api/v1/referrals", headers=key, json={
        "program": "widgets", "referee": referee(28), "consent": True})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert other.status_code == 422 and other.json["error"]["code"] == "idempotency_mismatch"
    assert referrals(db) == 1


def test_one_writer_an_address_and_a_stale_socket_file_is_replaced(app, relayed):
    where = intake_relay.address(app)
    relayed.start()
    assert stat.S_IMODE(os.stat(where).st_mode) == 0o600  # only this user may connect
    with pytest.raises(intake_relay.CannotListen, match="another intake writer listens at"):
        intake_writer.Loop(app)
    # The command says so and exits, rather than printing a traceback (its process set-up,
    # prepare, would change the test database's connections: not run here).
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(intake_writer, "prepare", lambda _app: None)
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        result = app.test_cli_runner().invoke(args=["intake-writer"])
    assert result.exit_code == 1 and "another intake writer listens at" in result.output
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers  # left as they were
    relayed.stop()
    with open(where, "w"):  # a file left where a killed writer listened
        pass
    replacement = intake_writer.Loop(app)
    replacement.close()
    assert not os.path.exists(where)


def test_a_client_without_the_key_is_refused_and_the_writer_serves_on(app, relayed, api,
                                                                      world, db,
                                                                      caplog):
    relayed.start()
    where = intake_relay.address(app)
    with pytest.raises(AuthenticationError):
        Client(where, intake_relay.family(where), authkey=b"not the key")
    assert post(api(world.referrer), 27).status_code == 201
    assert any("refused a connection" in r.getMessage() for r in caplog.records)


def test_an_unreadable_message_is_answered_and_a_field_the_writer_does_not_know_left_out(
        app, relayed, world, db, caplog):
    """Web workers of a newer release may be deployed before the writer."""
    relayed.start()
    where = intake_relay.address(app)
    with Client(where, intake_relay.family(where),
                authkey=intake_relay.authkey(app)) as conn:
        conn.send_bytes(b"not json")
        assert conn.poll(30)
        status, body = json.loads(conn.recv_bytes())
        assert status == 500 and "cannot read" in body["error"]
        conn.send_bytes(json.dumps({
            "deadline": time.time() + 60, "user_id": world.referrer.id, "key": None,
            "hash": None, "submission": {
                "program": "widgets", "referee": referee(28), "consent": True,
                "referrer_id": world.referrer.id, "from_a_newer_release": 1}}).encode())
        assert conn.poll(30)
        status, body = json.loads(conn.recv_bytes())
    db.session.rollback()  # this session's snapshot predates the writer's commit (SQLite)
    assert status == 201 and db.session.get(Referral, body["id"]).referee_email == \
        referee(28)["email"]
    assert "cannot read a message" in caplog.text


class Sent:
    """A connection that records what is sent on it."""

    def __init__(self, log=None):
        self.sent, self.log = [], log

    def send_bytes(self, data):
        self.sent.append(json.loads(data))
        if self.log is not None:
            self.log.append("answer")


def message(world, n, deadline):
    return json.dumps({"deadline": deadline, "user_id": world.referrer.id, "key": None,
                       "hash": None, "submission": {
                           "program": "widgets", "referee": referee(n), "consent": True,
                           "referrer_id": world.referrer.id}}).encode()


def test_a_submission_whose_request_gave_up_is_dropped_unread(app, relayed, world, db, caplog):
    writer, conn = group_commit.GroupCommit(app), Sent()
    intake_writer.run_group(writer, [(conn, message(world, 29, time.time() - 1))])
    assert writer.submissions == 0 and conn.sent == [] and referrals(db) == 0
    assert "1 submissions dropped" in caplog.text


def test_a_group_s_garbage_is_collected_once_every_answer_is_out(app, relayed, world, db,
                                                                  monkeypatch):
    """The writer frees each group's cyclic ORM garbage between groups, not mid-group."""
    log = []
    conn = Sent(log)
    monkeypatch.setattr(intake_writer.gc, "collect",
                        lambda generation=2: log.append(("collect", generation)))
    intake_writer.run_group(group_commit.GroupCommit(app),
                            [(conn, message(world, 30, time.time() + 60))])
    assert log == ["answer", ("collect", 0)]  # the young generation, with the answer out
    assert conn.sent[0][0] == 201


def test_the_writer_can_listen_on_tcp(app, relayed, api, world, db, monkeypatch):
    """INTAKE_WRITER_ADDRESS host:port: web machines without a writer of their own."""
    from bench.server import free_port

    port = free_port()
    monkeypatch.setitem(app.config, "INTAKE_WRITER_ADDRESS", f"127.0.0.1:{port}")
    assert intake_relay.address(app) == ("127.0.0.1", port)
    relayed.start()
    client = api(world.referrer)
    assert post(client, 31).status_code == 201
    # Over TCP a connection the writer closed still takes a send: the thread sees it closed
    # (readable) before it sends, and connects again.
    relayed.stop()
    relayed.start()
    assert post(client, 33).status_code == 201
    assert referrals(db) == 2


def test_the_address_defaults_to_a_socket_in_the_instance_folder(app, relayed, monkeypatch):
    assert intake_relay.address(app) == os.path.join(app.instance_path,
                                                              "intake-writer.sock")
    monkeypatch.setitem(app.config, "INTAKE_WRITER_ADDRESS", "/run/interlock/w.sock")
    assert intake_relay.address(app) == "/run/interlock/w.sock"


def test_an_address_the_writer_cannot_use_is_a_clear_error(app, relayed, monkeypatch):
    monkeypatch.setitem(app.config, "INTAKE_WRITER_ADDRESS", "/no/such/folder/intake.sock")
    with pytest.raises(intake_relay.CannotListen, match="cannot listen at /no/such/folder"):
        intake_writer.Loop(app)
