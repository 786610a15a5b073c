"""Pooled PostgreSQL connections are pinged at checkout only after sitting idle."""
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from referral_app import pool_ping
from tests import services
from tests.conftest import is_postgres

pytestmark = pytest.mark.skipif(not is_postgres(), reason="the pool pings PostgreSQL")


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(pool_ping, "monotonic", lambda: now[0])
    return now


@pytest.fixture
def engine(clock, monkeypatch):
    engine = create_engine(services.postgres_url(), pool_size=1, max_overflow=0)
    pool_ping.install(engine, idle=10)
    pings = []
    real = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda conn: pings.append(1) or real(conn))
    engine.pings = pings
    yield engine
    engine.dispose()


def backend(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def terminate(pid: int) -> None:
    plain = services.postgres_url().replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        assert conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]


def test_a_connection_used_a_moment_ago_is_not_pinged(engine, clock):
    first = backend(engine)
    clock[0] += 9.9
    assert backend(engine) == first
    assert engine.pings == []


def test_an_idle_connection_is_pinged_and_kept_when_it_answers(engine, clock):
    first = backend(engine)
    clock[0] += 10
    assert backend(engine) == first
    assert engine.pings == [1]
    assert backend(engine) == first  # given back a moment ago: no second ping
    assert engine.pings == [1]


def test_an_idle_connection_the_server_closed_is_replaced_before_use(engine, clock):
    first = backend(engine)
    terminate(first)
    clock[0] += 60
    second = backend(engine)  # no error: the dead connection never reached the caller
    assert second != first
    assert engine.pings == [1]


def test_a_connection_lost_right_after_use_fails_once_then_the_pool_reconnects(engine, clock):
    # The trade against a ping at every checkout: one statement fails, the pool recovers.
    first = backend(engine)
    terminate(first)
    with pytest.raises(OperationalError), engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert backend(engine) != first
    assert engine.pings == []
