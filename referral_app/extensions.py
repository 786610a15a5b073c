"""Unbound extensions, bound to the app in create_app()."""
import functools
import sqlite3

import click
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import Engine, MetaData, event, inspect
from sqlalchemy.orm import DeclarativeBase

from referral_app.replica import RoutingSession


class Base(DeclarativeBase):
    # Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )

    def __init__(self, **kwargs):
        """SQLAlchemy's declarative constructor, except that a plain column's value goes
        straight into the new row's dict: through the attribute it ran set events and history
        for a row that has neither yet (a third of building intake's rows, bench session 11).
        A flush inserts what the dict holds either way. Relationships, and columns with a
        validator or any other "set" listener, still go through their attribute."""
        plain = _plain_columns(type(self))
        values = self.__dict__
        for key, value in kwargs.items():
            if key in plain:
                values[key] = value
            elif hasattr(type(self), key):
                setattr(self, key, value)
            else:
                raise TypeError(f"{key!r} is an invalid keyword argument for "
                                f"{type(self).__name__}")


@functools.cache
def _plain_columns(model) -> frozenset:
    """The model's column attributes that no "set" listener watches (no @validates)."""
    mapper = inspect(model)
    return frozenset(prop.key for prop in mapper.column_attrs
                     if not mapper.class_manager[prop.key].dispatch.set)


class LazyMigrate:
    """Flask-Migrate, imported on first use: it brings Alembic, Mako and Pygments (about
    12 MB in every process) that web and job workers never use. `flask db …` and
    `app.extensions["migrate"]` (migrations/env.py, the tests) load it."""

    def init_app(self, app, db, **options) -> None:
        app.extensions["migrate"] = _PendingMigrate(app, db, options)
        app.cli.add_command(_LazyDbGroup(app), name="db")


class _PendingMigrate:
    """Stands in for Flask-Migrate's config until an attribute is asked for."""

    def __init__(self, app, db, options):
        self.app, self.db_ext, self.options = app, db, options

    def load(self):
        from flask_migrate import Migrate

        Migrate().init_app(self.app, self.db_ext, **self.options)  # replaces this stand-in
        return self.app.extensions["migrate"]

    def __getattr__(self, name):
        return getattr(self.load(), name)


class _LazyDbGroup(click.Group):
    """`flask db`: stands in for Flask-Migrate's group, which runs in its place."""

    def __init__(self, app):
        super().__init__(name="db", help="Perform database migrations.")
        self.app = app

    def make_context(self, info_name, args, parent=None, **extra):
        config = self.app.extensions.get("migrate")
        if isinstance(config, _PendingMigrate):
            config.load()
        from flask_migrate.cli import db as commands

        # click invokes the context's command: Flask-Migrate's group, options and all.
        return commands.make_context(info_name, args, parent=parent, **extra)


# Reports may read from a replica (REPORTS_DATABASE_URL): see referral_app.replica.
db = SQLAlchemy(model_class=Base, session_options={"class_": RoutingSession})
migrate = LazyMigrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@event.listens_for(Engine, "connect")
def _sqlite_manual_transactions(dbapi_connection, record):
    # pysqlite opens transactions lazily and commits on SAVEPOINT release; take over
    # BEGIN ourselves so savepoints nest as on PostgreSQL (the SQLAlchemy-documented fix).
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None
        # Write-ahead log: a reader's open transaction (a page, a report) no longer holds
        # back the worker's or the web's commit, as it does in SQLite's default journal.
        dbapi_connection.execute("PRAGMA journal_mode=WAL")


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection):
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN")
