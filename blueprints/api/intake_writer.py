"""`flask intake-writer` (INTAKE_WRITER=process): listens at INTAKE_WRITER_ADDRESS, takes
every submission waiting on its connections, writes them as one group and answers each on
its own connection (the web side and the why: blueprints/api/intake_relay.py).

One writer listens at an address; a second refuses to start there. Groups run through
GroupCommit.commit, exactly as the writer thread of INTAKE_WRITER=thread runs them. The
writer beats in Redis every INTAKE_WRITER_INTERVAL for /healthz, and logs what it has done
every REPORT_SECONDS (operators size it by that).
"""
import gc
import os
import selectors
import signal
import threading
import time
from concurrent.futures import Future
from multiprocessing import AuthenticationError

import orjson
from flask import Flask
from redis import RedisError
from sqlalchemy import event

from blueprints.api import group_commit
from blueprints.api.intake_relay import SENT_FIELDS, address, listen, wake
from referral_app.errors import DomainError
from referral_app.extensions import db
from referral_app.jobs.heartbeat import INTAKE_WRITER_INTERVAL, intake_writer_key
from referral_app.jobs.queues import redis_connection
from referral_app.services import intake_batch

REPORT_SECONDS = 60  # how often the writer logs what it has done
STEP_SECONDS = 0.2  # the longest an idle writer waits before it checks whether to stop
LARGEST_MESSAGE = 1024 * 1024  # bytes; a request body is at most MAX_JSON_BYTES
WRITER_GC_THRESHOLD = (50_000, 50, 50)  # the writer process's (see prepare)


class Loop:
    """The listening writer: a thread accepts (and authenticates) connections, `step` runs
    one group of whatever waits on them."""

    def __init__(self, app: Flask, writer: group_commit.GroupCommit | None = None):
        self.app, self.writer = app, writer or group_commit.GroupCommit(app)
        self.where = address(app)
        self.held = group_commit.HeldJobs(self.writer.send_jobs)  # the last groups' jobs
        self.listener = listen(app, self.where)
        self.selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._accepted, self._lock = [], threading.Lock()
        self._closing = False
        self._thread = threading.Thread(target=self._accept, name="intake-writer-accept",
                                        daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn = self.listener.accept()
            except (AuthenticationError, EOFError, ConnectionError) as exc:
                if not self._closing:  # else close()'s own wake-up call
                    self.app.logger.warning("intake writer: refused a connection (%r)", exc)
                continue
            except OSError:
                return  # the listener is closed
            with self._lock:
                self._accepted.append(conn)
            os.write(self._wake_w, b"\0")

    def _register_accepted(self) -> None:
        with self._lock:
            accepted, self._accepted = self._accepted, []
        for conn in accepted:
            self.selector.register(conn, selectors.EVENT_READ, conn)

    def waiting(self) -> int:
        """Connections with a submission ready to be read (tests wait on this)."""
        with self._lock:
            conns = [*self._accepted, *(key.data for key in self.selector.get_map().values()
                                        if key.data is not None)]
        return sum(1 for conn in conns if conn.poll(0))

    def step(self, timeout: float | None = 1) -> int:
        """Wait up to `timeout` for submissions, write those waiting as one group (at most
        GROUP_COMMIT_MAX; the rest stay ready for the next step). How many were read.

        The group's jobs are held (HeldJobs) while more submissions wait, up to its
        HOLD_SECONDS, and sent before the writer waits for more."""
        self._register_accepted()
        messages = []
        if self.held:
            timeout = 0  # jobs wait to be sent: no waiting for submissions first
        for key, _ in self.selector.select(timeout):
            if key.data is None:
                os.read(self._wake_r, 4096)  # new connections: registered next step
                continue
            if len(messages) >= self.writer.largest:
                continue
            conn = key.data
            try:
                messages.append((conn, conn.recv_bytes(LARGEST_MESSAGE)))
            except (EOFError, OSError):  # its web worker went away, or sent garbage
                self.selector.unregister(conn)
                conn.close()
        if messages:
            run_group(self.writer, messages, self.held)
        if self.held and (self.held.due() or not messages):
            began = time.thread_time()
            self.held.send()
            self.writer.cpu_seconds += time.thread_time() - began
        return len(messages)

    def close(self) -> None:
        try:
            self.held.send()  # their groups are committed
        finally:
            self._closing = True
            wake(self.where)  # the accepting thread, blocked in accept()
            self._thread.join(timeout=5)
            self.listener.close()  # a Unix socket's file goes with it
        for key in list(self.selector.get_map().values()):
            if key.data is not None:
                key.data.close()
        self.selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)


def serve(app: Flask, stop: threading.Event | None = None,
          writer: group_commit.GroupCommit | None = None,
          listening: threading.Event | None = None) -> None:
    """Write groups until `stop` is set (SIGTERM or SIGINT when on the main thread);
    `listening` is set once connections are taken."""
    loop = Loop(app, writer)  # first: a writer that cannot listen changes nothing
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    if listening is not None:
        listening.set()
    with app.app_context():
        redis = redis_connection()  # the process's client, which the group's jobs use too
    app.logger.info("intake writer: listening at %s", loop.where)
    reported, beat = (time.monotonic(), 0, 0, 0.0), 0.0
    try:
        while not stop.is_set():
            if time.monotonic() - reported[0] >= REPORT_SECONDS:
                reported = _report(app, loop.writer, reported)
            if time.monotonic() - beat >= INTAKE_WRITER_INTERVAL:
                beat = time.monotonic()
                try:  # /healthz reads it; without Redis the writer still writes
                    redis.set(intake_writer_key(app), time.time(), ex=INTAKE_WRITER_INTERVAL * 10)
                except RedisError as exc:
                    app.logger.warning("intake writer: no heartbeat, Redis unavailable (%r)",
                                       exc)
            try:
                loop.step(timeout=STEP_SECONDS)
            except Exception:  # noqa: BLE001  one bad group never stops the writer
                app.logger.exception("intake writer: a group failed outside its transaction")
    finally:
        loop.close()


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


def run_group(writer: group_commit.GroupCommit, messages: list,
              held: group_commit.HeldJobs | None = None) -> None:
    """Commit one group of (connection, message) and answer each on its connection; its
    jobs go to `held`, or to Redis at once."""
    now, group, answers, late = time.time(), [], [], 0
    for conn, message in messages:
        try:
            m = orjson.loads(message)
            request = group_commit.Request(_submission(m["submission"]),
                                           m["user_id"], m["key"], m["hash"], Future())
        except (ValueError, TypeError, KeyError):
            writer.app.logger.error("intake writer: cannot read a message: %.200r", message)
            answers.append((conn, (500, {"error": "the intake writer cannot read it"})))
            continue
        if m["deadline"] < now:
            late += 1  # its request has answered 503 already
        else:
            group.append((conn, request))
    if late:
        writer.app.logger.warning("intake writer: %d submissions dropped, their requests "
                                  "had given up", late)
    for _, request in group:
        request.future.set_running_or_notify_cancel()
    sent = []

    def send_answers() -> None:  # once every future is done, before the group's jobs go
        sent.append(True)
        for conn, answer in answers + [(conn, _answer(r.future)) for conn, r in group]:
            try:
                conn.send_bytes(orjson.dumps(answer))
            except OSError:
                pass  # its request gave up and closed the connection

    try:
        began = time.thread_time()
        writer.commit([request for _, request in group], answered=send_answers,
                      send_jobs=held.add if held is not None else None)
        writer.cpu_seconds += time.thread_time() - began
    except Exception as exc:  # noqa: BLE001  the writer outlives any error; each hears of it
        for _, request in group:
            if not request.future.done():
                request.future.set_exception(exc)
    if not sent:
        send_answers()
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


def _answer(future: Future) -> tuple:
    """(status, body), or (status, body, "replayed") for a repeated Idempotency-Key's first
    answer (read back by intake_relay.RelayedWriter.submit)."""
    exc = future.exception()
    if exc is None:
        result = future.result()
        if isinstance(result, group_commit.Replayed):
            return result.status, result.body, "replayed"
        return 201, result
    if isinstance(exc, DomainError):
        return exc.status, group_commit.error_body(exc)
    return 500, {"error": repr(exc)}
