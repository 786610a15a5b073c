"""Statements on the session's psycopg connection: in its transaction, failing as SQLAlchemy
would fail, and a lost connection never handed out again."""
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from referral_app.services import driver_sql
from tests import services
from tests.conftest import is_postgres

pytestmark = pytest.mark.skipif(not is_postgres(), reason="psycopg's own connection")


def test_a_statement_runs_in_the_sessions_transaction(db, make_user):
    user = make_user("sales", email="rows@example.com", name="Before")
    assert driver_sql.rows("SELECT email FROM users WHERE id = %s", (user.id,)) == \
        [("rows@example.com",)]
    driver_sql.run("UPDATE users SET name = %s WHERE id = %s", ("Renamed", user.id))
    name = text("SELECT name FROM users WHERE id = :id")
    assert db.session.scalar(name, {"id": user.id}) == "Renamed"  # one transaction
    db.session.rollback()
    assert db.session.scalar(name, {"id": user.id}) == "Before"


def test_a_refused_statement_raises_what_sqlalchemy_raises(db, make_user):
    first, second = make_user("sales", email="one@example.com"), make_user("sales")
    with pytest.raises(IntegrityError) as raised:
        driver_sql.run("UPDATE users SET email = %s WHERE id = %s", (first.email, second.id))
    assert isinstance(raised.value.orig, psycopg.errors.UniqueViolation)
    db.session.rollback()
    assert driver_sql.rows("SELECT count(*) FROM users WHERE email = %s",
                           ("one@example.com",)) == [(1,)]


def test_a_lost_connection_is_invalidated_and_the_next_statement_reconnects(db):
    pid = driver_sql.rows("SELECT pg_backend_pid()")[0][0]
    plain = services.postgres_url().replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(OperationalError) as raised:
        driver_sql.rows("SELECT 1")
    assert raised.value.connection_invalidated
    db.session.rollback()
    assert driver_sql.rows("SELECT pg_backend_pid()")[0][0] != pid
