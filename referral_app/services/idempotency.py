"""Idempotency-Key on API writes: the first answer per (caller, key) is stored and replayed 24 h."""
import hashlib
import json
from collections import namedtuple
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select, tuple_
from sqlalchemy.dialects import sqlite

from referral_app.errors import ValidationFailed
from referral_app.extensions import db
from referral_app.models import IdempotencyRecord
from referral_app.services import driver_sql

WINDOW = timedelta(hours=24)
HEADER = "Idempotency-Key"
MAX_KEY = 200


def check_key(key: str | None) -> str | None:
    """The key as sent (None when absent); 422 when it cannot be one."""
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ValidationFailed("The Idempotency-Key header is not valid.",
                               {HEADER: [f"Send 1 to {MAX_KEY} printable characters."]})
    return key


def body_hash(raw: bytes) -> str:
    """A hash of the request body that ignores JSON key order and whitespace."""
    try:
        canonical = json.dumps(json.loads(raw or b"null"), sort_keys=True,
                               separators=(",", ":")).encode()
    except ValueError:
        canonical = raw or b""
    return hashlib.sha256(canonical).hexdigest()


# Built once: the ORM query built anew for each keyed request (its where clause, its cache
# key, the ORM's compile and identity map) was ~40 % of a web worker's CPU under a keyed
# intake load (bench session 15).
_RECORD = IdempotencyRecord.__table__
_STORED = select(_RECORD.c.request_hash, _RECORD.c.status_code, _RECORD.c.response,
                 _RECORD.c.created_at).where(_RECORD.c.user_id == bindparam("user_id"),
                                             _RECORD.c.key == bindparam("key"))


def stored(user_id: int, key: str, request_hash: str, now: datetime):
    """The first answer to replay (its `status_code` and `response`), or None; 422
    idempotency_mismatch for another body."""
    # A read of what is committed, outside the caller's transaction: no BEGIN and ROLLBACK
    # around it (it runs before the request's own work, which opens its transaction later).
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        record = connection.execute(_STORED, {"user_id": user_id, "key": key}).first()
    if record is None or record.created_at <= now - WINDOW:
        return None
    if record.request_hash != request_hash:
        raise mismatch()
    return record


def stored_many(pairs: set[tuple[int, str]], now: datetime) -> dict:
    """(user_id, key) -> its stored first answer (`request_hash`, `status_code`,
    `response`) within the window, for many keys in one statement, in the caller's
    transaction (the intake writer's group: it sees what is committed)."""
    if not pairs:
        return {}
    if db.session.get_bind().dialect.name == "postgresql":
        users, keys = zip(*pairs, strict=True)
        return {(row.user_id, row.key): row for row in map(Stored._make, driver_sql.rows(
            STORED_MANY, (list(users), list(keys), now - WINDOW)))}
    rows = db.session.execute(
        select(_RECORD.c.user_id, _RECORD.c.key, _RECORD.c.request_hash,
               _RECORD.c.status_code, _RECORD.c.response)
        .where(tuple_(_RECORD.c.user_id, _RECORD.c.key).in_(list(pairs)),
               _RECORD.c.created_at > now - WINDOW))
    return {(row.user_id, row.key): row for row in rows}


def mismatch() -> ValidationFailed:
    """422 idempotency_mismatch: the key's first answer was to another body."""
    return ValidationFailed(
        "This Idempotency-Key was already used with a different request body.",
        {HEADER: ["Use a new key for a different request."]}, code="idempotency_mismatch")


def remember(user_id: int, key: str, request_hash: str, status: int, body: dict,
             now: datetime) -> None:
    """Store the answer in the caller's transaction, so it commits with what it describes."""
    remember_many([(user_id, key, request_hash, status, body)], now)


def remember_many(answers: list[tuple], now: datetime) -> None:
    """remember() for many (user_id, key, request_hash, status, body) at once, in two
    statements whatever their number: the intake writer stores a group's answers so (one
    savepoint and ORM flush per answer cost ~1 ms of its CPU each, bench session 15). A key
    that already has a record keeps it: a concurrent request with that key answered first,
    and its answer stands; a record past the window is replaced."""
    if not answers:
        return
    if db.session.get_bind().dialect.name == "postgresql":
        columns = list(zip(*answers, strict=True))
        keys = [list(columns[0]), list(columns[1])]
        driver_sql.run(FORGET_MANY, (*keys, now - WINDOW))
        driver_sql.run(REMEMBER_MANY, (now, *keys, list(columns[2]), list(columns[3]),
                                       [json.dumps(body) for body in columns[4]]))
        return
    db.session.execute(delete(_RECORD).where(
        tuple_(_RECORD.c.user_id, _RECORD.c.key).in_([(a[0], a[1]) for a in answers]),
        _RECORD.c.created_at <= now - WINDOW))
    # What remains is SQLite's (the project's other database).
    insert = sqlite.insert(_RECORD).on_conflict_do_nothing(index_elements=["user_id", "key"])
    db.session.execute(insert, [
        dict(user_id=user_id, key=key, request_hash=request_hash, status_code=status,
             response=body, created_at=now)
        for user_id, key, request_hash, status, body in answers])


# On PostgreSQL the writer's statements have one text whatever the group's size (an IN list
# or a multi-row VALUES has one per size): planned once per connection, prepared by psycopg,
# and run past SQLAlchemy's execution layer (services/driver_sql.py). Through the Core the
# keyed writer spent ~0.2–0.3 ms more a referral than the unkeyed one (bench session 19).
Stored = namedtuple("Stored", "user_id key request_hash status_code response")
STORED_MANY = """
SELECT r.user_id, r.key, r.request_hash, r.status_code, r.response
FROM idempotency_records r JOIN unnest(%s::integer[], %s::text[]) AS k(user_id, key)
  ON r.user_id = k.user_id AND r.key = k.key
WHERE r.created_at > %s
"""
FORGET_MANY = """
DELETE FROM idempotency_records r USING unnest(%s::integer[], %s::text[]) AS k(user_id, key)
WHERE r.user_id = k.user_id AND r.key = k.key AND r.created_at <= %s
"""
REMEMBER_MANY = """
INSERT INTO idempotency_records (user_id, key, request_hash, status_code, response, created_at)
SELECT k.user_id, k.key, k.request_hash, k.status_code, k.response::jsonb, %s
FROM unnest(%s::integer[], %s::text[], %s::text[], %s::integer[], %s::text[])
  AS k(user_id, key, request_hash, status_code, response)
ON CONFLICT (user_id, key) DO NOTHING
"""
