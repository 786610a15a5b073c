"""Queue names, and enqueue-after-commit: jobs leave only once their data is committed."""
import logging
import re
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue, Retry
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


def send(job: dict) -> None:
    """Enqueue now; with a job id an existing job of that id is left alone (runs once)."""
    q = get_queue(job["queue"])
    job = dict(job, job_id=rq_job_id(job["job_id"]))
    retry = Retry(max=job["retries"], interval=[10, 60, 300][: job["retries"]] or None) \
        if job["retries"] else None
    kwargs = dict(job_id=job["job_id"], retry=retry)
    if job["job_id"]:
        existing = q.fetch_job(job["job_id"])
        if existing is not None:
            if existing.get_status(refresh=False) in PENDING_STATES:
                return  # waiting or running: the same work is already on its way
            existing.delete()  # finished, failed or stopped long ago: run it again
    if job["at"] is not None:
        q.enqueue_at(job["at"], job["func"], *job["args"], **kwargs)
    else:
        q.enqueue(job["func"], *job["args"], **kwargs)


@event.listens_for(Session, "after_commit")
def _send_pending(session):
    jobs = session.info.pop(_PENDING, [])
    for job in jobs:
        try:
            send(job)
        except (RedisError, OSError, ValueError) as exc:
            # The data is committed; the sweep and the outbox re-enqueue from the database.
            log.warning("could not enqueue %s (%s); the periodic sweep will recover it",
                        job["func"], exc)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session):
    session.info.pop(_PENDING, None)


def pending_jobs(session=None) -> list[dict]:
    from referral_app.extensions import db

    return list((session or db.session()).info.get(_PENDING, []))
