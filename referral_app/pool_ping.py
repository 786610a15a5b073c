"""Ping a pooled PostgreSQL connection before use only when it sat idle for a while.

SQLAlchemy's pool_pre_ping sends a round trip at every checkout. The intake writer checks a
connection out for every group, so that was one round trip in eight of each group, each one
waiting on a busy machine for PostgreSQL to be scheduled (bench session 15); a web request
that reads pays it too. A connection given back a moment ago is alive unless the server went
away since: then the statement fails, SQLAlchemy invalidates the whole pool, and the next
checkout of each connection reconnects (the intake writer retries a failed group). A
connection idle for IDLE_BEFORE_PING or longer is pinged, and replaced when it does not answer,
so what sits in the pool through a restart, a failover or a firewall's idle timeout is
caught before use, as with pool_pre_ping.
"""
from time import monotonic

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

IDLE_BEFORE_PING = 10.0  # seconds


def install(engine: Engine, idle: float = IDLE_BEFORE_PING) -> None:
    """Ping `engine`'s connections at checkout when they were idle `idle` seconds or more."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection, record) -> None:
        if record is not None:
            record.info["returned_at"] = monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy) -> None:
        # `info` goes with the DBAPI connection: a new one has no `returned_at` and needs no
        # ping, it has just been made.
        returned = record.info.get("returned_at")
        if returned is None or monotonic() - returned < idle:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # noqa: BLE001  whatever the driver raised: not usable
            raise exc.DisconnectionError(f"an idle connection did not answer: {error!r}") \
                from error
        if not alive:
            raise exc.DisconnectionError("an idle connection did not answer")
