"""Intake's writer as a process of its own (INTAKE_WRITER=process), the web side: each
request thread hands its submission to `flask intake-writer` over a socket and waits there
for the answer (the writer's side: blueprints/api/intake_writer.py). What both sides share
is here too: the address, the key, and the writer's listener (listen, wake).

In each web process the group commit's writer thread shares the GIL with the request
threads and sees only that process's requests: under load its groups stay small (about 5).
One writer process sees the requests of every web worker, so its groups are larger (its cost
per group is shared by more referrals) and it has a core of its own.

The relay is a socket, not a broker: each request thread keeps one connection to the writer
(`INTAKE_WRITER_ADDRESS`: a Unix socket, by default `<instance>/intake-writer.sock`, or
`host:port`), sends its submission as one message and reads the answer from the same
connection. Messages are framed and the connection authenticated (HMAC challenge, a key
drawn from SECRET_KEY) by the standard library's multiprocessing.connection. Through a Redis
list and a reply key per request (sessions 10-13) the relay cost a quarter of intake's CPU:
redis-py on both sides and the Redis server's work on four commands a referral; through the
socket intake serves ~25 % more referrals a second on the same two cores (bench session 14).

A request that cannot reach a writer for GROUP_COMMIT_WAIT / 2 (none running, or restarting)
or hears nothing within GROUP_COMMIT_WAIT gets 503; its submission carries a deadline half
that long, past which the writer drops it unread, so a writer that was stuck never writes
what a client already gave up on (a retry with the same Idempotency-Key is safe either way).
"""
import contextlib
import hashlib
import os
import select
import socket
import struct
import threading
import time
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener

import orjson
from flask import Flask

from blueprints.api import group_commit
from referral_app.errors import DomainError, Unavailable
from referral_app.extensions import db
from referral_app.services import intake_batch

UNREACHABLE = "Intake cannot reach its writer; retry with the same Idempotency-Key."
CONNECT_PAUSE = 0.05  # seconds between attempts to reach a writer that is (re)starting
_local = threading.local()  # each request thread's connection to the writer


class Refused(DomainError):
    """A refusal answered by the writer process, raised again with its status and body."""

    def __init__(self, status: int, error: dict):
        super().__init__(error["message"], error.get("fields"), error["code"])
        self.status = status


def address(app: Flask) -> str | tuple[str, int]:
    """Where the writer listens: INTAKE_WRITER_ADDRESS as `host:port` (TCP) or a path (a
    Unix socket; by default in the instance folder)."""
    value = app.config.get("INTAKE_WRITER_ADDRESS") or os.path.join(
        app.instance_path, "intake-writer.sock")
    host, colon, port = value.rpartition(":")
    if colon and port.isdigit() and "/" not in value:
        return host, int(port)
    return value


def family(where) -> str:
    return "AF_INET" if isinstance(where, tuple) else "AF_UNIX"


def authkey(app: Flask) -> bytes:
    """The key both sides prove they hold before a connection carries anything."""
    return hashlib.sha256(b"interlock intake writer\0" + app.config["SECRET_KEY"].encode()
                          ).digest()


BACKLOG = 512  # connections waiting to be accepted: every request thread of every web worker


class CannotListen(RuntimeError):
    """The writer cannot take connections at its address (another writer answers there, or
    the system refused it)."""


def wake(where) -> None:
    """Connect to `where` and hang up: the accepting thread's accept() returns (and its
    handshake fails). A bare socket, not a Client: a Client would wait on a handshake that
    no thread may be left to answer."""
    with socket.socket(getattr(socket, family(where))) as s:
        s.settimeout(1)
        with contextlib.suppress(OSError):
            s.connect(where)


def listen(app: Flask, where) -> Listener:
    """Listen at `where`, unless another writer already answers there."""
    if isinstance(where, str) and os.path.exists(where):
        try:
            Client(where, "AF_UNIX", authkey=authkey(app)).close()
        except (OSError, EOFError, AuthenticationError):
            os.unlink(where)  # a socket file left by a writer that was killed
        else:
            raise CannotListen(f"another intake writer listens at {where}")
    try:
        listener = Listener(where, family(where), backlog=BACKLOG, authkey=authkey(app))
    except OSError as exc:  # a port in use, a path too long or not writable
        raise CannotListen(f"the intake writer cannot listen at {where}: {exc}") from exc
    if isinstance(where, str):
        os.chmod(where, 0o600)  # only this user's processes may even try the handshake
    return listener


class RelayedWriter:
    """The web side: what GroupCommit.submit does, with the writer in another process."""

    def __init__(self, app: Flask):
        self.app = app
        self.wait = app.config["GROUP_COMMIT_WAIT"]

    def submit(self, request: group_commit.Request) -> dict | group_commit.Replayed:
        """The 201 body for this request, a repeated key's first answer (Replayed), or
        raise the DomainError that refused it."""
        if db.session.registry.has():
            db.session.close()  # hold no pooled connection while waiting
        message = orjson.dumps({
            "deadline": time.time() + self.wait / 2, "user_id": request.user_id,
            "key": request.key, "hash": request.request_hash,
            "submission": _plain(request.submission)}, default=str)
        conn = self._connection()
        try:
            conn.send_bytes(message)
        except OSError:
            # The writer closed this connection before reading anything (it restarted since
            # the last request): a message is read whole or not at all, so send it again.
            conn = self._connection(fresh=True)
            try:
                conn.send_bytes(message)
            except OSError as exc:
                self._forget()
                raise Unavailable(UNREACHABLE) from exc
        try:
            status, body, *replayed = orjson.loads(read_message(conn.fileno()))
        except BlockingIOError:  # nothing within GROUP_COMMIT_WAIT (SO_RCVTIMEO)
            self._forget()  # a late answer must never reach the thread's next request
            raise Unavailable("Intake is busy; retry with the same Idempotency-Key.") from None
        except (EOFError, OSError) as exc:
            # The submission may have been written: never send it again, let the client
            # retry with its key.
            self._forget()
            self.app.logger.warning("intake: the writer went away while a request waited "
                                    "(%r); answered 503", exc)
            raise Unavailable("Intake lost its writer; retry with the same "
                              "Idempotency-Key.") from exc
        if replayed:
            return group_commit.Replayed(status, body)
        if status == 201:
            return body
        if status >= 500:
            raise RuntimeError(f"the intake writer failed: {body}")
        raise Refused(status, body["error"])

    def _connection(self, fresh: bool = False) -> Connection:
        """This thread's connection, made anew when asked or when there is none for this
        process (a forked worker). Over TCP also when the writer has closed it (it is
        readable while no request waits on it); over a Unix socket, sending on a connection
        the writer closed fails at once (EPIPE), and submit sends again on a new one."""
        found = getattr(_local, "writer", None)
        if found is not None and not fresh and found[0] == os.getpid() \
                and not (found[2] is not None and found[2].poll(0)):
            return found[1]
        self._forget()
        where = address(self.app)
        conn = self._connect()
        # Reads wait at most GROUP_COMMIT_WAIT, in the read itself (see read_message).
        with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                            _timeval(self.wait))
        closed = None  # over TCP, a poll object made once (Connection.poll makes a selector)
        if family(where) == "AF_INET":
            closed = select.poll()
            closed.register(conn.fileno(), select.POLLIN)
        _local.writer = (os.getpid(), conn, closed)
        return conn

    def _connect(self) -> Connection:
        where, deadline = address(self.app), time.monotonic() + self.wait / 2
        while True:
            try:
                return Client(where, family(where), authkey=authkey(self.app))
            except OSError as exc:
                if time.monotonic() >= deadline:
                    self.app.logger.warning("intake: no writer at %s (%r); answered 503",
                                            where, exc)
                    raise Unavailable(UNREACHABLE) from exc
                time.sleep(CONNECT_PAUSE)

    @staticmethod
    def _forget() -> None:
        found = getattr(_local, "writer", None)
        _local.writer = None
        if found is not None and found[0] == os.getpid():
            found[1].close()


def read_message(fd: int) -> bytes:
    """One message the writer sent with Connection.send_bytes (a 4-byte big-endian length,
    then the bytes), in as few reads as it arrives in: one, for an answer.

    Connection.poll and recv_bytes took three system calls (poll, header, body), and each
    gave up the GIL, which one of the worker's other 31 threads then took: under load the
    relay cost a web worker ~0.3 ms more CPU a referral than waiting as long in time.sleep,
    and one read instead of three took 0.08 ms of that off (bench session 16). The one
    blocking read waits too; it raises BlockingIOError after the connection's SO_RCVTIMEO,
    EOFError when the writer closed it."""
    data = os.read(fd, READ_SIZE)
    while True:
        if len(data) >= 4:
            size = int.from_bytes(data[:4], "big", signed=True)
            if size < 0:  # the framing of a message over 2 GB
                raise OSError("the intake writer sent a message too large to be an answer")
            if len(data) >= 4 + size:
                return data[4:4 + size]
        more = os.read(fd, READ_SIZE)
        if not more:
            raise EOFError("the intake writer closed the connection")
        data += more


READ_SIZE = 64 * 1024  # more than any answer


def _timeval(seconds: float) -> bytes:
    """SO_RCVTIMEO's value for `seconds` (at least a millisecond: zero means no limit)."""
    micro = max(int(seconds * 1_000_000), 1000)
    return struct.pack("ll", micro // 1_000_000, micro % 1_000_000)


# What of a Submission crosses to the writer (not what the writer fills in: data, holds).
SENT_FIELDS = ("program", "referee", "source", "referrer_id", "note", "consent",
               "company_size", "deal_value", "ip", "fingerprint", "checked")


def _plain(sub: intake_batch.Submission) -> dict:
    return {name: getattr(sub, name) for name in SENT_FIELDS}
