"""Group commit for POST /api/v1/referrals: concurrent submissions share one transaction.

Alone, a referral costs about a dozen statements and a commit, and the ORM's work per
statement is most of intake's CPU. Under load many requests are in flight at once in each
gunicorn process, so they are handed to one writer thread per process, which takes every
submission waiting, runs them through `intake_batch.submit_many` (a few statements for the
group), stores each request's Idempotency-Key answer and commits once. Each request still
gets its own answer, only after the commit that made it durable, exactly what it would have
got alone: a lone request is a group of one, so nothing waits for company. A repeated
Idempotency-Key is answered here too, with its first answer (`Replayed`).

If a group fails as a whole (an unexpected error, not a refusal), it is rolled back and each
submission is retried as a group of one, so one bad submission never costs the others.
A request that waits longer than GROUP_COMMIT_WAIT (the writer is stuck on a lock) gets 503
and its submission is withdrawn if the writer has not started it yet; a retry with the same
Idempotency-Key is safe either way.
"""
import os
import queue
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as WaitedTooLong
from dataclasses import dataclass

from flask import Flask

from blueprints.web import error_body as contract_error_body
from referral_app.errors import DomainError, Unavailable
from referral_app.extensions import db
from referral_app.jobs import queues
from referral_app.models.base import utcnow
from referral_app.services import idempotency, intake_batch

_starting = threading.Lock()


@dataclass
class Request:
    """One waiting request: its submission, who sent it and its Idempotency-Key, if any."""
    submission: intake_batch.Submission
    user_id: int
    key: str | None
    request_hash: str | None
    future: Future


@dataclass
class Replayed:
    """The first answer to a repeated Idempotency-Key, given again (whatever its status)."""
    status: int
    body: dict


def error_body(exc: DomainError) -> dict:
    """The body blueprints/errors.py answers `exc` with, kept to be replayed."""
    return contract_error_body(exc.status, exc.code, exc.message, exc.fields)


def created_body(referral) -> dict:
    """The 201 body (ReferralCreatedOut, which documents it), built directly: its values are
    ints and strings already, so dumping it through the schema changed nothing and cost ~3 %
    of the writer's CPU (py-spy, bench session 16); tests/intake/test_api.py checks it."""
    code = referral.code
    return {"id": referral.id, "status": referral.status,
            "code": code.code if code is not None else None,
            "lead": {"id": referral.lead.id, "stage": referral.lead.stage}}


class GroupCommit:
    """The writer of one process (started on first use, again in a forked child)."""

    def __init__(self, app: Flask):
        self.app = app
        self.largest = app.config["GROUP_COMMIT_MAX"]
        self.wait = app.config["GROUP_COMMIT_WAIT"]
        # What it has done, for tests and the benchmark: groups, submissions, writer CPU.
        self.groups = self.submissions = 0
        self.cpu_seconds = 0.0
        self._pid = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()

    def submit(self, request: Request) -> dict | Replayed:
        """The 201 body for this request, a repeated key's first answer (Replayed), or
        raise the DomainError that refused it."""
        # The request's own reads (its token) are done: give its connection back to the
        # pool while it waits, or waiting requests could hold every connection the writer needs.
        if db.session.registry.has():
            db.session.close()
        self._start()
        self._queue.put(request)
        try:
            return request.future.result(timeout=self.wait)
        except WaitedTooLong:
            request.future.cancel()  # withdrawn unless the writer has already begun it
            raise Unavailable("Intake is busy; retry with the same Idempotency-Key.") from None

    def _start(self) -> None:
        if self._pid == os.getpid():
            return
        with _starting:
            if self._pid != os.getpid():  # a forked gunicorn worker starts its own writer
                self._queue = queue.SimpleQueue()
                threading.Thread(target=self._run, name="intake-group-commit",
                                 daemon=True).start()
                self._pid = os.getpid()

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            while len(group) < self.largest:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            group = [r for r in group if r.future.set_running_or_notify_cancel()]
            try:
                began = time.thread_time()
                self.commit(group)
                self.cpu_seconds += time.thread_time() - began
            except BaseException as exc:  # noqa: BLE001  the writer must outlive any error
                for r in group:
                    if not r.future.done():
                        r.future.set_exception(exc)

    def commit(self, group: list[Request], answered=None, send_jobs=None) -> None:
        """Run the group in one transaction and answer each request (after the commit);
        then call `answered` (the writer process sends the answers there), and only then
        send the group's jobs: they need the commit, the requests do not need them.
        `send_jobs(jobs)` instead of sending them at once: the writer process holds them
        for a few groups (HeldJobs)."""
        if not group:
            return
        jobs = []
        with self.app.app_context():
            # The session ends with the group: expiring every row at the commit (the default)
            # would be work for nobody, 5 % of the writer's CPU (bench, session 10).
            db.session().expire_on_commit = False
            at = utcnow()
            try:
                answers = _answers(group, at)
                # Each new keyed answer, stored with what it describes (a replay's already is).
                idempotency.remember_many([
                    (r.user_id, r.key, r.request_hash, status, body)
                    for r, (_, status, body) in zip(group, answers, strict=True)
                    if r.key and status is not None], at)
                jobs = queues.commit_holding_jobs(db.session())
            except Exception as exc:
                db.session.rollback()
                if len(group) == 1:
                    group[0].future.set_exception(exc)
                    _call(answered)
                    return
                failed = exc
            else:
                failed = None
                self.groups, self.submissions = self.groups + 1, self.submissions + len(group)
        if failed is not None:
            self.app.logger.warning("intake group of %d failed (%r); each retried alone",
                                    len(group), failed)
            for r in group:
                self.commit([r], send_jobs=send_jobs)
            _call(answered)
            return
        for r, (answer, _, _) in zip(group, answers, strict=True):
            if isinstance(answer, DomainError):
                r.future.set_exception(answer)
            else:
                r.future.set_result(answer)
        _call(answered)
        if jobs:
            (send_jobs or self.send_jobs)(jobs)

    def send_jobs(self, jobs: list[dict]) -> None:
        """Send committed jobs to Redis now."""
        with self.app.app_context():
            queues.send_committed(jobs)


class HeldJobs:
    """The committed jobs of consecutive groups, sent together (the writer process's).

    Under load the writer starts a group as soon as one ends, and RQ's enqueueing of each
    group's job was ~0.4 of a group's ~2.6 ms of CPU, in its serial path (in-process, groups
    of 11, bench session 18). Held for at most HOLD_SECONDS and sent at once when no
    submission waits, the groups' rewards jobs go as one (`merged`). Their data is
    committed: a writer killed while holding them loses only the jobs, which the periodic
    recovery re-enqueues from the database, as when Redis is away at a commit."""

    HOLD_SECONDS = 0.05
    LARGEST = 500  # referrals in one merged rewards job

    def __init__(self, send):
        """`send(jobs)`: what sends them when they are due (GroupCommit.send_jobs)."""
        self._send, self.jobs, self.since, self.referrals = send, [], 0.0, 0

    def __bool__(self) -> bool:
        return bool(self.jobs)

    def add(self, jobs: list[dict]) -> None:
        if not self.jobs:
            self.since = time.monotonic()
        self.jobs += jobs
        self.referrals += sum(len(job["args"][0]) for job in jobs if _is_group_job(job))

    def due(self) -> bool:
        return bool(self.jobs) and (self.referrals >= self.LARGEST or
                                    time.monotonic() - self.since >= self.HOLD_SECONDS)

    def send(self) -> None:
        jobs, self.jobs, self.referrals = self.jobs, [], 0
        if jobs:
            self._send(merged(jobs))


def merged(jobs: list[dict]) -> list[dict]:
    """`jobs` with the groups' rewards jobs (intake_batch.GROUP_SUBMITTED_JOB) as one, its
    referrals and moves to mql those of all of them, in order; the others as they are."""
    groups = [job for job in jobs if _is_group_job(job)]
    if len(groups) < 2:
        return jobs
    ids = [i for job in groups for i in job["args"][0]]
    moves = [i for job in groups if len(job["args"]) > 1 for i in job["args"][1]]
    one = dict(groups[0], args=(ids, moves) if moves else (ids,))
    return [one, *(job for job in jobs if not _is_group_job(job))]


def _is_group_job(job: dict) -> bool:
    return job["func"] == intake_batch.GROUP_SUBMITTED_JOB and job["job_id"] is None \
        and job["at"] is None


def _call(answered) -> None:
    if answered is not None:
        answered()


def _answers(group: list[Request], at) -> list[tuple]:
    """Each request's (answer, status, body to store under its key): a key answered before
    (stored, or earlier in this group) replays that answer, or is refused as a mismatch,
    without being submitted again; status None for those (nothing new to store).

    The replay check of intake's keys happens here, not in the web worker: one read for
    the group's keys in the writer's transaction instead of a pooled connection and a
    statement in every keyed request (~0.4 ms of web worker CPU each, bench session 19)."""
    keyed = [(i, r) for i, r in enumerate(group) if r.key]
    stored = idempotency.stored_many({(r.user_id, r.key) for _, r in keyed}, at)
    answers: list = [None] * len(group)
    first, later = {}, {}  # (user, key) -> its first new request; a repeat -> that first
    for i, r in keyed:
        record = stored.get((r.user_id, r.key))
        if record is not None:
            answers[i] = _replay(record.request_hash, record.status_code, record.response, r)
        elif (r.user_id, r.key) in first:
            later[i] = first[(r.user_id, r.key)]
        else:
            first[(r.user_id, r.key)] = i
    fresh = [i for i in range(len(group)) if answers[i] is None and i not in later]
    outcomes = intake_batch.submit_many([group[i].submission for i in fresh], at) if fresh else []
    for i, outcome in zip(fresh, outcomes, strict=True):
        answers[i] = _answer(outcome)
    for i, j in later.items():
        answers[i] = _replay(group[j].request_hash, answers[j][1], answers[j][2], group[i])
    return answers


def _replay(first_hash: str, status: int, body: dict, request: Request) -> tuple:
    if first_hash != request.request_hash:
        return idempotency.mismatch(), None, None
    return Replayed(status, body), None, None


def _answer(outcome) -> tuple:
    """(the request's body or its refusal, the status and body its Idempotency-Key keeps)."""
    if isinstance(outcome, DomainError):
        return outcome, outcome.status, error_body(outcome)
    body = created_body(outcome)
    return body, 201, body


def writer(app: Flask) -> GroupCommit:
    """The app's group commit, created once."""
    found = app.extensions.get("intake_group_commit")
    if found is None:
        with _starting:
            found = app.extensions.setdefault("intake_group_commit", GroupCommit(app))
    return found
