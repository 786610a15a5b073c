"""The decorator every job uses: run inside an app context and own the transaction."""
import functools

from flask import has_app_context

_worker_app = None


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


def _run(fn, db, args, kwargs):
    try:
        result = fn(*args, **kwargs)
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        raise
