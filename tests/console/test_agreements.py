"""The SLA agreement as a versioned contract: drafts, dual sign-off, versions, the API."""
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from referral_app.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from referral_app.models import Agreement, SlaClock
from referral_app.services import agreements, sla
from tests import factories


@pytest.fixture
def v1(db, marketer):
    calendar = factories.calendar(name="NYC")
    agreement = agreements.publish({"product": "Widget", "calendar_id": calendar.id,
                                    "first_attempt_hours": Decimal("4"),
                                    "monthly_qualified_leads": 75}, marketer.id)
    db.session.commit()
    return agreement


def test_publish_puts_a_version_in_force_and_records_its_author(v1, marketer):
    assert (v1.version, v1.status, v1.created_by_id) == (1, "in_force", marketer.id)
    assert v1.effective_at is not None and agreements.current("Widget") == v1


def test_a_draft_is_not_in_force_until_both_sides_sign(db, v1, marketer, manager):
    draft = agreements.propose({"product": "Widget", "first_attempt_hours": Decimal("2")},
                               manager.id)
    db.session.commit()
    assert (draft.version, draft.status) == (2, "draft")
    assert draft.monthly_qualified_leads == 75  # unchanged terms carried over
    assert agreements.current("Widget") == v1
    with time_machine.travel(datetime(2026, 3, 2, 15, 0, tzinfo=UTC), tick=False):
        agreements.sign(draft, marketer)
    assert draft.status == "draft" and agreements.current("Widget") == v1
    with time_machine.travel(datetime(2026, 3, 3, 9, 30, tzinfo=UTC), tick=False):
        agreements.sign(draft, manager)
    db.session.commit()
    assert draft.status == "in_force" and v1.status == "superseded"
    assert agreements.current("Widget") == draft
    assert draft.effective_at == datetime(2026, 3, 3, 9, 30, tzinfo=UTC)
    assert {(s.side, s.user_id, s.signed_at.day) for s in draft.signoffs} == {
        ("marketing", marketer.id, 2), ("sales", manager.id, 3)}


def test_sign_off_rules(db, v1, marketer, manager, make_user):
    draft = agreements.propose({"product": "Widget", "max_attempts": 6}, marketer.id)
    agreements.sign(draft, marketer)
    with pytest.raises(Conflict):
        agreements.sign(draft, make_user("marketing"))  # the marketing side has signed
    with pytest.raises(Forbidden):
        agreements.sign(draft, make_user("sales"))
    with pytest.raises(Forbidden):
        agreements.sign(draft, make_user("admin"))
    with pytest.raises(InvalidTransition):
        agreements.sign(v1, manager)  # only drafts are signed


def test_a_newer_proposal_replaces_an_unsigned_draft(db, v1, marketer, manager):
    first = agreements.propose({"product": "Widget", "max_attempts": 6}, marketer.id)
    agreements.sign(first, marketer)
    second = agreements.propose({"product": "Widget", "max_attempts": 5}, manager.id)
    assert first.status == "superseded" and second.version == 3
    assert second.signoffs == []  # signatures belong to the version signed
    with pytest.raises(InvalidTransition):
        agreements.sign(first, manager)
    assert agreements.pending("Widget") == second


def test_leads_keep_the_version_in_force_when_their_clocks_started(db, v1, marketer, manager):
    program = factories.program(product="Widget")
    rep = factories.user("sales")
    early = factories.lead(program, owner=rep)
    sla.start_clocks(early, datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    draft = agreements.propose({"product": "Widget", "first_attempt_hours": Decimal("1")},
                               marketer.id)
    agreements.sign(draft, marketer)
    agreements.sign(draft, manager)
    late = factories.lead(program, owner=rep)
    sla.start_clocks(late, datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    db.session.commit()
    clocks = {c.lead_id: c for c in db.session.scalars(db.select(SlaClock))}
    assert early.agreement_id == v1.id and clocks[early.id].agreement_id == v1.id
    assert late.agreement_id == draft.id and clocks[late.id].agreement_id == draft.id
    # 4 business hours vs 1 from 09:00 New York (14:00 UTC) on a Monday
    assert clocks[early.id].due_at == datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
    assert clocks[late.id].due_at == datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def test_diff_lists_the_changed_terms_in_words(db, v1, marketer):
    draft = agreements.propose({"product": "Widget", "first_attempt_hours": Decimal("2"),
                                "min_acceptance_rate": Decimal("0.7")}, marketer.id)
    assert agreements.diff(v1, draft) == [
        ("First attempt within (hours)", "4", "2"),
        ("Minimum acceptance rate", "60%", "70%"),
    ]
    assert agreements.diff(v1, v1) == []


def test_terms_are_validated(db, v1, marketer):
    with pytest.raises(ValidationFailed) as exc:
        agreements.propose({"product": "Widget", "first_attempt_hours": Decimal("0"),
                            "first_attempt_clock": "lunar", "max_attempts": 0,
                            "min_acceptance_rate": Decimal("1.5"), "calendar_id": 999999},
                           marketer.id)
    assert {"first_attempt_hours", "first_attempt_clock", "max_attempts", "min_acceptance_rate",
            "calendar_id"} <= set(exc.value.fields)


def test_plain_words(v1):
    words = agreements.describe(v1)
    assert words["marketing"] == ("Marketing delivers 75 marketing-qualified leads (MQLs) for "
                                  "Widget each month, and at least 60% of them are accepted by "
                                  "sales.")
    assert words["sales"].startswith("Sales makes the first attempt within 4 business hours")


# ---- POST /api/v1/agreements ----

def _body(calendar_id, **terms):
    body = {"product": "Interlock CRM", "calendar_id": calendar_id, "first_attempt_hours": 5,
            "first_attempt_clock": "business", "max_attempts": 4, "attempt_window_days": 16,
            "decision_hours": 8, "monthly_qualified_leads": 75, "min_acceptance_rate": 0.6}
    body.update(terms)
    return body


def test_api_creates_versions_in_force(api, marketer, db):
    calendar = factories.calendar()
    db.session.commit()
    client = api(marketer)
    first = client.post("/api/v1/agreements", json=_body(calendar.id))
    assert first.status_code == 201, first.json
    assert first.json["version"] == 1 and first.json["status"] == "in_force"
    assert first.json["created_by_id"] == marketer.id and first.json["id"]
    assert first.json["min_acceptance_rate"] == 0.6 and first.json["first_attempt_hours"] == 5
    second = client.post("/api/v1/agreements", json=_body(calendar.id, max_attempts=6))
    assert second.status_code == 201 and second.json["version"] == 2
    assert db.session.get(Agreement, first.json["id"]).status == "superseded"
    only_product = client.post("/api/v1/agreements", json={"product": "Interlock CRM"})
    assert only_product.status_code == 201 and only_product.json["max_attempts"] == 6


def test_api_rejects_bad_terms_and_other_roles(api, marketer, make_user, db):
    calendar = factories.calendar()
    db.session.commit()
    bad = api(marketer).post("/api/v1/agreements", json=_body(calendar.id, max_attempts=-1,
                                                              first_attempt_clock="sundial"))
    assert bad.status_code == 422 and {"max_attempts", "first_attempt_clock"} <= set(
        bad.json["error"]["fields"])
    first = api(marketer).post("/api/v1/agreements", json={"product": "New thing"})
    assert first.status_code == 422 and "calendar_id" in first.json["error"]["fields"]
    for role in ("sales", "sales_manager", "referrer"):
        assert api(make_user(role)).post("/api/v1/agreements",
                                         json=_body(calendar.id)).status_code == 403
