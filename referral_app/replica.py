"""Reports read from a streaming replica when `REPORTS_DATABASE_URL` is set (docs/deploy.md).

The session routes a statement to the `replica` bind only while a request has asked for it
(`read_from_replica()`, which the report pages and the reports API call for GET requests)
and only when the statement writes nothing: flushes and INSERT/UPDATE/DELETE always go to
the primary, as do sign-in, API tokens, every other page, the jobs (the day roll-ups write)
and anything that reads to write (a report's POST, such as the pack's notes, stays on the
primary so it never decides on stale rows). Without the setting nothing changes.
"""
from contextlib import contextmanager

from flask import g, has_app_context
from flask_sqlalchemy.session import Session
from sqlalchemy.sql.dml import UpdateBase

REPLICA = "replica"  # the SQLALCHEMY_BINDS key


def binds(url: str | None) -> dict:
    """SQLALCHEMY_BINDS for the replica URL (none when unset)."""
    return {REPLICA: url} if url else {}


def read_from_replica() -> None:
    """This request's report reads may go to the replica (a no-op without one)."""
    g.read_replica = True


@contextmanager
def from_primary():
    """Within: read from the primary even in a replica request (what the reader just wrote
    must show at once, whatever the replica's lag)."""
    wanted = has_app_context() and g.get("read_replica")
    if wanted:
        g.read_replica = False
    try:
        yield
    finally:
        if wanted:
            g.read_replica = True


class RoutingSession(Session):
    """Flask-SQLAlchemy's session, sending report reads to the replica (module docstring)."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and self._to_replica(clause):
            return self._db.engines[REPLICA]
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)

    def _to_replica(self, clause) -> bool:
        if not has_app_context() or not g.get("read_replica"):
            return False
        if self._flushing or isinstance(clause, UpdateBase):
            return False
        return REPLICA in self._db.engines
