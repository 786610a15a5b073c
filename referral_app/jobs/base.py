"""The decorator every job uses: run inside an app context and own the transaction."""
import functools
import logging
from collections import Counter

from flask import has_app_context

_worker_app = None
log = logging.getLogger(__name__)


def _app():
    # Jobs run in `rq worker`, outside any request: build the app once per worker process.
    global _worker_app
    if _worker_app is None:
        from referral_app.app import create_app

        _worker_app = create_app()
    return _worker_app


def app_job(fn):
    """Wrap a job: app context, commit on success, rollback on error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from referral_app.extensions import db

        if has_app_context():
            # Run inline (a command, a test): read what is committed, as a worker would. On
            # SQLite an open read transaction's snapshot predates the work this job is for.
            db.session.commit()
            return _run(fn, db, args, kwargs)
        with _app().app_context():
            try:
                return _run(fn, db, args, kwargs)
            finally:
                db.session.remove()

    return wrapper


SNAPSHOT_RETRIES = 3


def _run(fn, db, args, kwargs):
    attempt = 1
    while True:
        try:
            result = fn(*args, **kwargs)
            db.session.commit()
            return result
        except Exception as exc:
            db.session.rollback()
            if attempt >= SNAPSHOT_RETRIES or not _stale_sqlite_snapshot(exc):
                raise
            # SQLite (the embedded default) refuses at once to let a transaction write
            # after another process committed since its first read; jobs may run twice,
            # so run it again now on a fresh snapshot rather than fail into RQ's retry.
            log.info("%s: SQLite snapshot went stale; running it again", fn.__name__)
            attempt += 1


def _stale_sqlite_snapshot(exc: Exception) -> bool:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError) and isinstance(exc.orig, sqlite3.OperationalError) \
        and "database is locked" in str(exc.orig)


def each(job, ids: list[int], job_id) -> dict[str, int]:
    """Run an @app_job's work for each id of a group job, each in its own savepoint; how many
    of each result. An id whose work fails is enqueued alone (its own job id `job_id(id)`
    and retries) rather than failing, and so re-running, the whole group."""
    from referral_app.extensions import db
    from referral_app.jobs.queues import enqueue_after_commit

    results: Counter = Counter()
    for one in ids:
        try:
            with db.session.begin_nested():
                results[str(job.__wrapped__(one))] += 1
        except Exception:  # noqa: BLE001  any failure: that one retries alone
            log.exception("%s(%s) failed in a group; enqueued alone", job.__name__, one)
            enqueue_after_commit(f"{job.__module__}.{job.__name__}", one, job_id=job_id(one))
            results["enqueued alone"] += 1
    return dict(results)
