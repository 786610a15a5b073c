"""PostgreSQL plumbing for the generator: the bench database, bulk COPY, index detach/restore."""
from __future__ import annotations

import queue
import threading
from urllib.parse import urlsplit, urlunsplit

import psycopg

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/interlock_bench"
NULL = "\\N"


def plain(url: str) -> str:
    """The libpq form of a SQLAlchemy URL."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def database_name(url: str) -> str:
    return urlsplit(plain(url)).path.lstrip("/")


def guard(url: str, schema: str) -> None:
    """Other engineers' test runs live in schemas of `test`: its public schema is never ours."""
    if database_name(url) == "test" and schema == "public":
        raise SystemExit("refusing to generate into the public schema of the `test` database; "
                         "use the default interlock_bench database or --schema NAME")


def ensure_database(url: str) -> None:
    """Create the target database when it is missing (through the `postgres` database)."""
    name = database_name(url)
    parts = urlsplit(plain(url))
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def connect(url: str, schema: str = "public", autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(plain(url), autocommit=autocommit, connect_timeout=5,
                           options=f"-csearch_path={schema}")


def engine_options(schema: str) -> dict:
    """SQLAlchemy engine options that put every statement in `schema`."""
    return {"connect_args": {"options": f"-csearch_path={schema}"}}


def create_schema(url: str, schema: str) -> None:
    """Drop and recreate `schema`, then create every model's table in it (the models decide)."""
    from sqlalchemy import create_engine

    from referral_app import models  # noqa: F401  (registers every table)
    from referral_app.extensions import db

    with connect(url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    engine = create_engine(url, **engine_options(schema))
    db.metadata.create_all(engine)
    engine.dispose()


def detach_indexes(conn: psycopg.Connection) -> list[str]:
    """Drop foreign keys, unique constraints and secondary indexes; the DDL to restore them.

    Loading into bare heaps and building each index once afterwards is several times faster,
    and re-adding the constraints proves the generated data respects every one of them.
    """
    schema = conn.execute("SELECT current_schema()").fetchone()[0]
    cons = conn.execute(
        """SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype
             FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE n.nspname = %s AND c.contype IN ('f', 'u') ORDER BY c.contype DESC""",
        (schema,)).fetchall()
    idx = conn.execute(
        """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
             FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = %s AND NOT i.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
        (schema,)).fetchall()
    for table, name, _, _ in cons:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in idx:
        conn.execute(f"DROP INDEX {name}")
    restore = [ddl for _, ddl in idx]
    # Unique constraints first (the foreign keys may reference them), then foreign keys.
    restore += [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, d, k in cons if k == "u"]
    restore += [f'ALTER TABLE {t} ADD CONSTRAINT "{n}" {d}' for t, n, d, k in cons if k == "f"]
    return restore


class TableSpec:
    """The columns the generator writes for a table, plus constants for required others.

    Other areas may add NOT NULL columns with Python-side defaults to the models; those get
    their default written as a constant so the load keeps working as the models grow.
    """

    def __init__(self, table, columns: tuple[str, ...]):
        known = {c.name for c in table.columns}
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise SystemExit(f"generator writes {table.name}.{unknown} which the models lack")
        extra, values = [], []
        for col in table.columns:
            if col.name in columns or col.nullable or col.server_default is not None:
                continue
            extra.append(col.name)
            values.append(_default_text(col))
        self.name = table.name
        self.columns = tuple(columns) + tuple(extra)
        self.suffix = "".join("\t" + v for v in values)

    def copy_sql(self) -> str:
        return f"COPY {self.name} ({', '.join(self.columns)}) FROM STDIN (FREEZE)"


def _default_text(col) -> str:
    import json

    default = col.default
    if default is None or not (default.is_scalar or default.is_callable):
        raise SystemExit(f"{col.table.name}.{col.name} is NOT NULL without a default; "
                         "teach bench/dataset.py to fill it")
    # SQLAlchemy wraps a callable default into one taking the execution context.
    value = default.arg(None) if default.is_callable else default.arg
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


class CopyWriter:
    """COPY in a background thread on one connection and one transaction, while Python generates.

    The tables are truncated in that same transaction so COPY ... FREEZE writes rows already
    frozen (no hint-bit rewrite or anti-wraparound vacuum of 10M fresh rows later).
    """

    def __init__(self, url: str, schema: str, tables: list[str]):
        self.conn = connect(url, schema)
        self.conn.execute("SET synchronous_commit = off")
        self.conn.execute(f"TRUNCATE {', '.join(tables)}")
        self.rows: dict[str, int] = {}
        self._queue: queue.Queue = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="copy-writer", daemon=True)
        self._thread.start()

    def put(self, spec: TableSpec, lines: list[str]) -> None:
        if self._error:
            raise RuntimeError("COPY failed") from self._error
        if lines:
            self.rows[spec.name] = self.rows.get(spec.name, 0) + len(lines)
            suffix = spec.suffix
            data = ("\n".join(lines) + "\n") if not suffix else \
                "".join(line + suffix + "\n" for line in lines)
            self._queue.put((spec, data))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error:
                continue
            spec, data = item
            try:
                with self.conn.cursor().copy(spec.copy_sql()) as copy:
                    copy.write(data)
            except BaseException as exc:  # surfaced by put()/close() in the main thread
                self._error = exc

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error:
            self.conn.rollback()
            self.conn.close()
            raise RuntimeError("COPY failed") from self._error
        self.conn.commit()
        self.conn.close()


def finish(url: str, schema: str, restore: list[str], log=print) -> None:
    """Rebuild indexes and constraints, move sequences past the loaded ids, VACUUM ANALYZE."""
    with connect(url, schema, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for ddl in restore:
            conn.execute(ddl)
        log(f"  restored {len(restore)} indexes and constraints")
        seqs = conn.execute(
            """SELECT t.relname, a.attname, pg_get_serial_sequence(t.relname, a.attname)
                 FROM pg_class t JOIN pg_attribute a ON a.attrelid = t.oid
                 JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = current_schema() AND t.relkind = 'r' AND a.attnum > 0
                  AND pg_get_serial_sequence(t.relname, a.attname) IS NOT NULL""").fetchall()
        for table, column, seq in seqs:
            conn.execute(f"SELECT setval('{seq}', COALESCE((SELECT max({column}) FROM {table}), 0) + 1, false)")
        conn.execute("VACUUM (ANALYZE)")


def cancel_running(url: str) -> int:
    """Cancel every other active query in the (dedicated) benchmark database.

    A report the client gave up on keeps running in PostgreSQL until it tries to answer;
    left alone it would steal the CPU the next figure is measured with.
    """
    with connect(url, autocommit=True) as conn:
        return len(conn.execute(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state = 'active'").fetchall())
