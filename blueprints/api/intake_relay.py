"""Intake's writer as a process of its own (INTAKE_WRITER=process): web workers hand each
submission to `flask intake-writer` through Redis and wait for its answer.

In each web process the group commit's writer thread shares the GIL with the request
threads and sees only that process's requests: under load its groups stay small (about 5)
and it spends as much time waiting for the GIL as working. One writer process sees the
requests of every web worker, so its groups are larger (its cost per group is shared by
more referrals) and it has a core of its own. Several writer processes may run: each takes
whole groups from the same list, and groups never conflict (reps are taken with SKIP LOCKED).

A submission waits in the Redis list `<QUEUE_PREFIX>intake:submissions` as JSON with a
reply key; the writer runs a group through GroupCommit.commit, exactly as the thread does,
and pushes each answer (status and body) to its reply key. A request that hears nothing
within GROUP_COMMIT_WAIT gets 503; its submission carries a deadline half that long, past
which the writer drops it unread, so a writer that was down never writes what a client
already gave up on (a retry with the same Idempotency-Key is safe either way).
"""
import gc
import itertools
import json
import os
import secrets
import signal
import threading
import time
from concurrent.futures import Future

from flask import Flask
from redis import Redis, RedisError
from sqlalchemy import event

from blueprints.api import group_commit
from referral_app.errors import DomainError, Unavailable
from referral_app.extensions import db
from referral_app.jobs.connection import redis_url_for
from referral_app.jobs.heartbeat import INTAKE_WRITER_INTERVAL, intake_writer_key
from referral_app.services import intake_batch

SUBMISSIONS = "intake:submissions"
REPORT_SECONDS = 60  # how often the writer logs what it has done
REPLY_SECONDS = 60  # an answer nobody collected (the request gave up) expires
WRITER_GC_THRESHOLD = (50_000, 50, 50)  # the writer process's (see prepare)


class Refused(DomainError):
    """A refusal answered by the writer process, raised again with its status and body."""

    def __init__(self, status: int, error: dict):
        super().__init__(error["message"], error.get("fields"), error["code"])
        self.status = status


def _redis(app: Flask) -> Redis:
    """A client of its own: BRPOP blocks longer than the jobs' client's socket timeout."""
    wait = app.config["GROUP_COMMIT_WAIT"]
    found = app.extensions.get("interlock.intake_relay")
    if found is None or found[0] != wait:
        found = app.extensions["interlock.intake_relay"] = (wait, Redis.from_url(
            redis_url_for(app.config), socket_connect_timeout=2, socket_timeout=wait + 5))
    return found[1]


def _list(app: Flask) -> str:
    return app.config.get("QUEUE_PREFIX", "") + SUBMISSIONS


class RelayedWriter:
    """The web side: what GroupCommit.submit does, with the writer in another process."""

    def __init__(self, app: Flask):
        self.app = app
        self.wait = app.config["GROUP_COMMIT_WAIT"]

    def submit(self, request: group_commit.Request) -> dict:
        """The 201 body for this request, or raise the DomainError that refused it."""
        if db.session.registry.has():
            db.session.close()  # hold no pooled connection while waiting
        reply = _reply_key(self.app)
        # Both commands in one round trip: the pipeline's answers come when BRPOP's does.
        pipe = _redis(self.app).pipeline(transaction=False)
        pipe.lpush(_list(self.app), json.dumps({
            "reply": reply, "deadline": time.time() + self.wait / 2,
            "user_id": request.user_id, "key": request.key, "hash": request.request_hash,
            "submission": _plain(request.submission)}, default=str))
        pipe.brpop([reply], timeout=self.wait)
        try:
            _, answer = pipe.execute()
        except RedisError as exc:
            # Without Redis no writer hears of it: a retry with the same key is safe.
            self.app.logger.warning("intake: the relay to the writer failed (%r); answered "
                                    "503", exc)
            raise Unavailable("Intake cannot reach its writer; retry with the same "
                              "Idempotency-Key.") from exc
        if answer is None:
            raise Unavailable("Intake is busy; retry with the same Idempotency-Key.")
        status, body = json.loads(answer[1])
        if status == 201:
            return body
        if status >= 500:
            raise RuntimeError(f"the intake writer failed: {body}")
        raise Refused(status, body["error"])


def _reply_key(app: Flask) -> str:
    """A key no other request of any process uses: a random prefix made once per process
    and app (again in a forked child), then a counter (a token from os.urandom for each
    request was ~1.5 % of a web worker's CPU, bench session 12). next() on a count is
    atomic under the GIL."""
    found = app.extensions.get("interlock.reply_keys")
    if found is None or found[0] != os.getpid():
        found = app.extensions["interlock.reply_keys"] = (
            os.getpid(), f"{_list(app)}:reply:{secrets.token_urlsafe(12)}:", itertools.count())
    return found[1] + str(next(found[2]))


# What of a Submission crosses Redis (not what the writer fills in: data, holds).
SENT_FIELDS = ("program", "referee", "source", "referrer_id", "note", "consent",
               "company_size", "deal_value", "ip", "fingerprint", "checked")


def _plain(sub: intake_batch.Submission) -> dict:
    return {name: getattr(sub, name) for name in SENT_FIELDS}


def serve(app: Flask, stop: threading.Event | None = None,
          writer: group_commit.GroupCommit | None = None) -> None:
    """Run groups from the list until `stop` is set (SIGTERM or SIGINT when on the main
    thread): the `flask intake-writer` process."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    writer = writer or group_commit.GroupCommit(app)
    redis, name = _redis(app), _list(app)
    app.logger.info("intake writer: taking submissions from %s", name)
    reported, beat = (time.monotonic(), 0, 0, 0.0), 0.0
    while not stop.is_set():
        if time.monotonic() - reported[0] >= REPORT_SECONDS:
            reported = _report(app, writer, reported)
        try:
            if time.monotonic() - beat >= INTAKE_WRITER_INTERVAL:  # /healthz reads it
                redis.set(intake_writer_key(app), time.time(), ex=INTAKE_WRITER_INTERVAL * 10)
                beat = time.monotonic()
            first = redis.brpop([name], timeout=1)
            if first is None:
                continue
            messages = [first[1], *(redis.rpop(name, writer.largest - 1) or [])]
            run_group(writer, redis, messages)
        except RedisError as exc:  # Redis restarting: wait for it rather than exit
            app.logger.warning("intake writer: Redis unavailable (%r); retrying", exc)
            stop.wait(1)
        except Exception:  # noqa: BLE001  one bad group never stops the writer
            app.logger.exception("intake writer: a group failed outside its transaction")


def prepare(app: Flask) -> None:
    """Set up the writer process before it serves: PostgreSQL plans once (plan_once), and
    no automatic collection starts in the middle of a group; run_group collects each
    group's garbage after its answers instead (the default threshold's frequent passes were
    ~5 % of the writer's CPU, in-process, groups of 16, bench session 11)."""
    plan_once(app)
    gc.set_threshold(*WRITER_GC_THRESHOLD)


def plan_once(app: Flask) -> None:
    """Have PostgreSQL plan each of this process's prepared statements once per connection
    (plan_cache_mode = force_generic_plan), for the writer process. Its statement texts
    never change and psycopg prepares them, but with the default (auto) PostgreSQL planned
    most executions anew for their parameters, at bind: ~0.5 ms of a group's ~4 ms in
    PostgreSQL, spent while the writer, one thread, waits (log_min_duration_statement,
    bench session 11). Its statements are index lookups and inserts whose plan does not
    depend on the values. Connections made before are closed so that all are set."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "connect")
    def _generic_plans(dbapi_connection, _record) -> None:
        dbapi_connection.execute("SET plan_cache_mode = force_generic_plan")
        dbapi_connection.commit()

    engine.dispose()


def _report(app: Flask, writer: group_commit.GroupCommit, since: tuple) -> tuple:
    """Log the groups written since the last report (operators size writers by it)."""
    at, groups, submissions, cpu = since
    groups, submissions = writer.groups - groups, writer.submissions - submissions
    if groups:
        app.logger.info("intake writer: %d referrals in %d groups in %.0f s (%.1f a group, "
                        "%.1f ms of CPU a group)", submissions, groups,
                        time.monotonic() - at, submissions / groups,
                        (writer.cpu_seconds - cpu) * 1000 / groups)
    return time.monotonic(), writer.groups, writer.submissions, writer.cpu_seconds


def run_group(writer: group_commit.GroupCommit, redis: Redis, messages: list) -> None:
    """Commit one group of messages (JSON) and push each answer to its reply key."""
    now, group, late = time.time(), [], 0
    for message in messages:
        try:
            m = json.loads(message)
            request = group_commit.Request(_submission(m["submission"]),
                                           m["user_id"], m["key"], m["hash"], Future())
        except (ValueError, TypeError, KeyError):
            writer.app.logger.error("intake writer: dropped a message it cannot read: %.200r",
                                    message)
            continue
        if m["deadline"] < now:
            late += 1
        else:
            group.append((m["reply"], request))
    if late:
        writer.app.logger.warning("intake writer: %d submissions dropped, their requests "
                                  "had given up", late)
    for _, request in group:
        request.future.set_running_or_notify_cancel()
    try:
        began = time.thread_time()
        writer.commit([request for _, request in group])
        writer.cpu_seconds += time.thread_time() - began
    except Exception as exc:  # noqa: BLE001  the writer outlives any error; each hears of it
        for _, request in group:
            if not request.future.done():
                request.future.set_exception(exc)
    pipe = redis.pipeline(transaction=False)
    for reply, request in group:
        pipe.lpush(reply, json.dumps(_answer(request.future)))
        pipe.expire(reply, REPLY_SECONDS)
    pipe.execute()
    # The group's rows are cyclic garbage (a referral and its lead, a lead and its events
    # point at each other), which only the collector frees. Collected now, with every answer
    # out, it costs ~0.3 ms a group; left to the (raised) threshold it piled up and was
    # collected in ~30 ms pauses in the middle of every ~40th group: intake's p99.
    gc.collect(0)


def _submission(sent: dict) -> intake_batch.Submission:
    """The Submission a web worker sent. Fields this writer does not know are left out, so
    web workers of a newer release can be deployed before the writers (one they need and
    lack, as `program`, makes the message unreadable)."""
    return intake_batch.Submission(**{k: v for k, v in sent.items() if k in SENT_FIELDS})


def _answer(future: Future) -> tuple[int, dict]:
    exc = future.exception()
    if exc is None:
        return 201, future.result()
    if isinstance(exc, DomainError):
        return exc.status, group_commit.error_body(exc)
    return 500, {"error": repr(exc)}
