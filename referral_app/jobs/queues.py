"""Queue names, and enqueue-after-commit: jobs leave only once their data is committed."""
import logging
import re
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import Job
from sqlalchemy import event
from sqlalchemy.orm import Session

from referral_app.jobs.connection import connect, redis_url_for

log = logging.getLogger(__name__)

SLA = "sla"
DEFAULT = "default"
NOTIFY = "notifications"
IMPORTS = "imports"
ALL_QUEUES = (SLA, DEFAULT, NOTIFY, IMPORTS)  # in priority order for workers

_PENDING = "interlock_pending_jobs"
_HOLD, _HELD = "interlock_hold_jobs", "interlock_held_jobs"  # see commit_holding_jobs
PENDING_STATES = {"queued", "started", "scheduled", "deferred"}


def redis_connection():
    ext = current_app.extensions
    if "interlock.redis" not in ext:
        ext["interlock.redis"] = connect(redis_url_for(current_app.config))
    return ext["interlock.redis"]


def queue_name(name: str) -> str:
    return current_app.config.get("QUEUE_PREFIX", "") + name


def get_queue(name: str = DEFAULT) -> Queue:
    return Queue(queue_name(name), connection=redis_connection())


def worker_queue_names(app) -> list[str]:
    return [app.config.get("QUEUE_PREFIX", "") + name for name in ALL_QUEUES]


def enqueue_after_commit(func: str, *args, queue: str = DEFAULT, job_id: str | None = None,
                         at: datetime | None = None, retries: int = 3, session=None) -> None:
    """Remember a job on the session; it is sent when the session commits, dropped on rollback.

    `func` is a dotted path, so callers need not import job modules (no cycles), and
    `args` are ids and plain values, never ORM objects.
    """
    from referral_app.extensions import db

    session = session or db.session()
    session.info.setdefault(_PENDING, []).append(
        dict(func=func, args=args, queue=queue, job_id=job_id, at=at, retries=retries)
    )


def rq_job_id(job_id: str | None) -> str | None:
    """A deterministic job id under this deployment's prefix, in the characters RQ allows.

    Row ids restart per database, so deployments (or test runs) sharing one Redis must not
    mistake each other's jobs for their own.
    """
    if job_id is None:
        return None
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", current_app.config.get("QUEUE_PREFIX", ""))
    job_id = re.sub(r"[^A-Za-z0-9_-]", "-", job_id)
    return job_id if job_id.startswith(prefix) else prefix + job_id


def send_all(jobs: list[dict]) -> None:
    """Enqueue the jobs in two Redis round trips, whatever their number: one reads the status
    of every job id (a job waiting or running is left alone: the same work is on its way),
    one pipeline enqueues or schedules the rest. A finished or failed job of the same id
    is deleted first, so the work runs again (rare: recovery)."""
    connection = redis_connection()
    jobs = [dict(job, job_id=rq_job_id(job["job_id"])) for job in jobs]
    named = [job["job_id"] for job in jobs if job["job_id"]]
    statuses = {}
    if named:
        reads = connection.pipeline(transaction=False)
        for job_id in named:
            reads.hget(Job.key_for(job_id), "status")
        statuses = dict(zip(named, reads.execute(), strict=True))
    pipe = connection.pipeline()
    for job in jobs:
        status = statuses.get(job["job_id"])
        if status is not None:
            if status.decode() in PENDING_STATES:
                continue
            existing = Job.fetch(job["job_id"], connection=connection)
            existing.delete()
        retry = Retry(max=job["retries"], interval=[10, 60, 300][: job["retries"]] or None) \
            if job["retries"] else None
        q = get_queue(job["queue"])
        kwargs = dict(job_id=job["job_id"], retry=retry, pipeline=pipe)
        if job["at"] is not None:
            q.enqueue_at(job["at"], job["func"], *job["args"], **kwargs)
        else:
            q.enqueue(job["func"], *job["args"], **kwargs)
    pipe.execute()


@event.listens_for(Session, "after_commit")
def _send_pending(session):
    jobs = session.info.pop(_PENDING, [])
    if not jobs:
        return
    if session.info.get(_HOLD):
        session.info.setdefault(_HELD, []).extend(jobs)
        return
    send_committed(jobs)


def send_committed(jobs: list[dict]) -> None:
    """Send jobs whose data is committed; Redis being away is logged, not raised."""
    if not jobs:
        return
    try:
        send_all(jobs)
    except (RedisError, OSError, ValueError) as exc:
        # The data is committed; the sweep and the outbox re-enqueue from the database.
        log.warning("could not enqueue %s (%s); the periodic sweep will recover it",
                    ", ".join(sorted({job["func"] for job in jobs})), exc)


def commit_holding_jobs(session) -> list[dict]:
    """Commit `session` and return the jobs its commit would have sent, for the caller to
    send with `send_committed` when it is ready: intake's writer answers a group's requests
    first (a Redis round trip and RQ's work, ~0.5 ms a group, no longer in every answer)."""
    session.info[_HOLD] = True
    try:
        session.commit()
    finally:
        session.info.pop(_HOLD, None)
    return session.info.pop(_HELD, [])


@event.listens_for(Session, "after_rollback")
def _drop_pending(session):
    session.info.pop(_PENDING, None)


def pending_jobs(session=None) -> list[dict]:
    from referral_app.extensions import db

    return list((session or db.session()).info.get(_PENDING, []))
