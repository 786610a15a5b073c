"""New rows written as the ORM's flush would write them, without its unit of work: one
statement for every table (intake's group commit on PostgreSQL).

For a group of referrals the unit of work cost more CPU than anything else the writer did
(a quarter of intake's, bench session 8): it sorts dependencies, tracks history and runs
events object by object. The rows of a group are all new, of a few tables, and their ids are
numbered beforehand (intake_batch._number), so every foreign key is known: all the rows go
as one INSERT per table inside one statement (data-modifying WITH clauses, each reading a
JSON array of its table's rows: one round trip, a statement text that depends only on which
tables are written, so PostgreSQL and psycopg prepare it once). Foreign keys are checked
at the end of that statement, so the order of the clauses does not matter to PostgreSQL;
they are in foreign-key order all the same.

The group's rows are built as `Plain` rows (intake.arrival(plain=True) and the helpers it
calls, through `new` and `child`): the models' attributes without SQLAlchemy's
instrumentation, which nothing needs for rows that only this module writes. They never join
the session.

What the flush would add is added here, through the same code: many-to-one relationships
copied to their foreign keys, column defaults, and the before_flush marks of a new lead
(models.lead.stage_marks / mark_new_lead). Lead's before_insert copy of the referrer is not
needed: intake.arrival sets `referrer_id` itself. tests/intake/test_new_rows.py compares
every column with what the ORM's flush writes for a lone referral.
"""
import functools
from collections import defaultdict
from decimal import Decimal

import orjson
from sqlalchemy import inspect
from sqlalchemy.orm.interfaces import MANYTOONE

from referral_app.extensions import db
from referral_app.models import SlaClock
from referral_app.models.base import utcnow
from referral_app.models.lead import LeadEvent, mark_new_lead, stage_marks
from referral_app.services import driver_sql


def insert_new(rows: list) -> None:
    """INSERT `rows` (new Plain rows, ids set, parents before children or anywhere: tables
    are sorted). Flushes nothing of the session."""
    session = db.session()
    now = utcnow()
    marks = stage_marks(session, [r for r in rows if model_of(r) is LeadEvent],
                        [r for r in rows if model_of(r) is SlaClock])
    for lead, add in marks.values():
        mark_new_lead(lead, add, now)
    by_table = defaultdict(list)
    for row in rows:
        _complete(row)
        by_table[model_of(row).__table__].append(row)
    order = _table_order()
    tables = sorted(by_table, key=order.__getitem__)
    driver_sql.run(_statement(tuple(t.name for t in tables)),
                   tuple(_json([_values(row) for row in by_table[table]]) for table in tables))


class Plain:
    """A new row of `model` as plain attributes, for rows that only this module writes
    (intake's groups on PostgreSQL): what the model's constructor builds, without
    SQLAlchemy's instrumentation. Building six ORM rows a referral (an event for every
    attribute set and backref, then joining the session) was the largest part of the
    intake writer's CPU (~40 % in cProfile), for rows nothing else reads; plain, the writer
    spends ~17 % less under load (bench session 12).

    Unset columns and relationships read None, as on a new ORM row (column defaults are
    filled in by the insert); validated columns go through the model's validators (e-mails
    lower-cased); a one-to-one backref between two plain rows is kept (a referral's `lead`).
    A plain row never joins the session: read it back from the database to change it.
    """

    def __init__(self, model, **values):
        self._model = model
        known, validators, reverse, _ = _shape(model)
        for key, value in values.items():
            if key not in known:
                raise TypeError(f"{key!r} is an invalid keyword argument for {model.__name__}")
            if key in validators:
                value = validators[key](self, key, value)
            self.__dict__[key] = value
            if key in reverse and isinstance(value, Plain):
                value.__dict__[reverse[key]] = self

    def __getattr__(self, name):  # only for what was never set
        known, _, _, lists = _shape(self._model)
        if name in lists:
            raise AttributeError(f"{self._model.__name__}.{name} of a plain row is not "
                                 "loaded: read it back from the database")
        if name in known:
            return None
        raise AttributeError(f"{self._model.__name__} has no attribute {name!r}")

    def __repr__(self) -> str:
        return f"<plain {self._model.__name__} {self.__dict__.get('id')}>"


def new(model, plain: bool, **values):
    """A new `model` row: a Plain one or an ORM one."""
    return Plain(model, **values) if plain else model(**values)


def child(model, parent, **values):
    """A new `model` row hanging off `parent` (a lead's event or clock): plain when the
    parent is, so that the rows of one referral are all of one kind."""
    return new(model, isinstance(parent, Plain), **values)


def model_of(row) -> type:
    return row._model if isinstance(row, Plain) else type(row)


@functools.cache
def _shape(model) -> tuple[frozenset, dict, dict, frozenset]:
    """(attribute names, {validated column: its validator}, {one-to-one relationship: the
    attribute that points back}, the names of its list relationships) of the model."""
    mapper = inspect(model)
    validators = {key: fn for key, (fn, _opts) in mapper.validators.items()}
    reverse = {rel.key: rel.back_populates for rel in mapper.relationships
               if rel.back_populates and not rel.mapper.relationships[rel.back_populates].uselist}
    lists = frozenset(rel.key for rel in mapper.relationships if rel.uselist)
    return frozenset(mapper.attrs.keys()), validators, reverse, lists


@functools.cache
def _statement(names: tuple[str, ...]) -> str:
    """One INSERT per table, each reading its own parameter, a JSON array of its rows.

    Not one document for all: `json -> 'table'` parses the whole text again for each
    table (0.08 ms each for a group of 8, a fifth of the statement, EXPLAIN ANALYZE)."""
    inserts = ", ".join(
        f"i{n} AS (INSERT INTO {name} SELECT * FROM json_populate_recordset("
        f"NULL::{name}, CAST(%s AS json)))" for n, name in enumerate(names))
    return f"WITH {inserts} SELECT 1"


def _values(row) -> dict:
    """The row as its columns' values (read from the row's own dict: _complete has set every
    column, and instrumented reads of each column were a tenth of this module's CPU)."""
    values = row.__dict__
    return {name: values[key] for name, key, _ in _columns(model_of(row))}


@functools.cache
def _columns(model) -> list:
    """(column name, attribute key, column) of each column."""
    return [(prop.columns[0].name, prop.key, prop.columns[0])
            for prop in inspect(model).column_attrs]


def _json(rows: list) -> str:
    """The rows as one JSON array, each value as PostgreSQL reads it for its column: aware
    datetimes with their offset (timestamptz), a Decimal as its exact digits, JSON columns
    as their structure. orjson writes datetimes itself; the standard library's encoder and
    an isoformat() call a value were a fifth of the writer's CPU (py-spy, bench session 15)."""
    return orjson.dumps(rows, default=_exact, option=orjson.OPT_NON_STR_KEYS).decode()


def _exact(value):
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


@functools.cache
def _table_order() -> dict:
    """Each table's place in foreign-key order (MetaData sorts them anew on every call)."""
    return {table: n for n, table in enumerate(db.metadata.sorted_tables)}


def _complete(row) -> None:
    """Fill in what the flush would: foreign keys from many-to-one relationships, defaults.
    Written to the row's dict, without attribute events: the row is made persistent as it
    stands right after (events here were a tenth of the writer's CPU, bench session 10)."""
    state, model = row.__dict__, model_of(row)
    for relation, pairs in _many_to_one(model):
        target = state.get(relation)
        if target is not None:
            for local, remote in pairs:
                state[local] = getattr(target, remote)
    for _, key, column in _columns(model):
        if key not in state:
            state[key] = _default(column)
    if state.get("id") is None:
        raise ValueError(f"{model.__name__} has no id: number the rows first")


@functools.cache
def _many_to_one(model) -> list:
    """(relationship, [(foreign key attribute, the target's attribute)]) of the model."""
    mapper = inspect(model)
    return [(rel.key, [(mapper.get_property_by_column(local).key,
                        rel.mapper.get_property_by_column(remote).key)
                       for local, remote in rel.local_remote_pairs])
            for rel in mapper.relationships if rel.direction is MANYTOONE and not rel.viewonly]


def _default(column):
    default = column.default
    if default is None:
        return None
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)  # wrapped by SQLAlchemy to take an execution context
    raise ValueError(f"{column} has a default this module cannot compute")
