"""Fixed PostgreSQL statements run on the session's own psycopg connection, in its transaction,
past SQLAlchemy's execution layer: for the intake writer's few statements a group.

Through `Connection.exec_driver_sql` each statement also built an execution context and a
CursorResult with its metadata (psycopg makes a Column object for every column each time a
cursor's description is read): about a sixth of the writer's CPU for four statements
(py-spy, bench session 16). Here a statement costs what psycopg costs, which still prepares
a statement it has run five times on the connection.

A statement failing here raises what SQLAlchemy would have raised (IntegrityError,
OperationalError...: the caller's `except` clauses stay as they are), and a connection lost
on the way is invalidated, so the pool never hands it out again. SQLAlchemy's statement
events do not see these statements. PostgreSQL only (psycopg's `%s` parameters).
"""
import psycopg
from sqlalchemy import exc

from referral_app.extensions import db


def rows(sql: str, params=None) -> list[tuple]:
    """The rows `sql` returns, as tuples."""
    return _execute(sql, params, fetch=True)


def run(sql: str, params=None) -> None:
    """Run `sql`, which returns no rows (or none anybody reads)."""
    _execute(sql, params, fetch=False)


def _execute(sql: str, params, fetch: bool):
    connection = db.session.connection()  # begins the session's transaction if need be
    fairy = connection.connection
    cursor = fairy.dbapi_connection.cursor()
    try:
        cursor.execute(sql, params)
        return cursor.fetchall() if fetch else None
    except psycopg.Error as error:
        lost = connection.dialect.is_disconnect(error, fairy.dbapi_connection, cursor)
        if lost:
            connection.invalidate(error)
        raise exc.DBAPIError.instance(sql, params, error, psycopg.Error,
                                      connection_invalidated=lost,
                                      dialect=connection.dialect) from error
    finally:
        cursor.close()
