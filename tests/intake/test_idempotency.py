"""Idempotency-Key answers stored for many requests at once (the intake writer's groups)."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from referral_app.errors import ValidationFailed
from referral_app.models import IdempotencyRecord
from referral_app.services import idempotency

NOW = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def records(db) -> dict:
    return {(r.user_id, r.key): (r.request_hash, r.status_code, r.response, r.created_at)
            for r in db.session.scalars(select(IdempotencyRecord))}


def test_each_answer_is_stored_under_its_callers_key(db, make_user):
    ann, bob = make_user(email="ann@example.com"), make_user(email="bob@example.com")
    idempotency.remember_many([(ann.id, "k1", "h1", 201, {"id": 1}),
                               (ann.id, "k2", "h2", 409, {"error": "duplicate"}),
                               (bob.id, "k1", "h3", 201, {"id": 3})], NOW)
    db.session.commit()
    assert records(db) == {(ann.id, "k1"): ("h1", 201, {"id": 1}, NOW),
                           (ann.id, "k2"): ("h2", 409, {"error": "duplicate"}, NOW),
                           (bob.id, "k1"): ("h3", 201, {"id": 3}, NOW)}
    found = idempotency.stored(bob.id, "k1", "h3", NOW + timedelta(hours=1))
    assert (found.status_code, found.response) == (201, {"id": 3})


def test_the_first_answer_to_a_key_stands(db, make_user):
    ann = make_user(email="ann@example.com")
    idempotency.remember(ann.id, "k1", "h1", 201, {"id": 1}, NOW)
    db.session.commit()
    # A concurrent request with the same key answered later, and two in one group.
    idempotency.remember_many([(ann.id, "k1", "h1", 409, {"error": "duplicate"}),
                               (ann.id, "k2", "h2", 201, {"id": 2}),
                               (ann.id, "k2", "h2", 409, {"error": "duplicate"})],
                              NOW + timedelta(minutes=1))
    db.session.commit()
    assert records(db) == {(ann.id, "k1"): ("h1", 201, {"id": 1}, NOW),
                           (ann.id, "k2"): ("h2", 201, {"id": 2}, NOW + timedelta(minutes=1))}


def test_a_record_past_the_window_is_replaced_and_others_are_left_alone(db, make_user):
    ann = make_user(email="ann@example.com")
    old = NOW - idempotency.WINDOW
    idempotency.remember_many([(ann.id, "k1", "h1", 201, {"id": 1}),
                               (ann.id, "k9", "h9", 201, {"id": 9})], old)
    db.session.commit()
    idempotency.remember_many([(ann.id, "k1", "h2", 201, {"id": 2})], NOW)
    db.session.commit()
    assert records(db) == {(ann.id, "k1"): ("h2", 201, {"id": 2}, NOW),
                           (ann.id, "k9"): ("h9", 201, {"id": 9}, old)}


def test_nothing_to_remember_writes_nothing(db):
    idempotency.remember_many([], NOW)
    assert records(db) == {}


def test_the_replay_check_reads_what_is_committed_outside_the_callers_transaction(
        db, make_user):
    ann = make_user(email="ann@example.com").id
    idempotency.remember(ann, "k1", "h1", 201, {"id": 1}, NOW)
    db.session.commit()
    db.session.close()
    found = idempotency.stored(ann, "k1", "h1", NOW)
    assert (found.status_code, found.response) == (201, {"id": 1})
    assert not db.session().in_transaction()  # the request's own work begins its transaction
    idempotency.remember(ann, "k2", "h2", 201, {"id": 2}, NOW)  # not committed yet
    assert idempotency.stored(ann, "k2", "h2", NOW) is None
    with pytest.raises(ValidationFailed):
        idempotency.stored(ann, "k1", "another body", NOW)


def test_many_keys_are_looked_up_at_once_within_the_window(db, make_user):
    ann, bob = make_user(email="ann@example.com").id, make_user(email="bob@example.com").id
    idempotency.remember_many([(ann, "k1", "h1", 201, {"id": 1, "tags": ["a"]}),
                               (bob, "k1", "h2", 409, {"error": "duplicate"})], NOW)
    idempotency.remember_many([(ann, "old", "h0", 201, {"id": 0})], NOW - idempotency.WINDOW)
    # In the caller's transaction (the writer's group): what it wrote is seen uncommitted.
    found = idempotency.stored_many({(ann, "k1"), (bob, "k1"), (ann, "old"), (ann, "none"),
                                     (bob, "k2")}, NOW + timedelta(hours=23))
    assert {pair: (r.request_hash, r.status_code, r.response) for pair, r in found.items()} == {
        (ann, "k1"): ("h1", 201, {"id": 1, "tags": ["a"]}),
        (bob, "k1"): ("h2", 409, {"error": "duplicate"})}
    assert idempotency.stored_many(set(), NOW) == {}
    assert idempotency.stored_many({(ann, "k1")}, NOW + idempotency.WINDOW) == {}
