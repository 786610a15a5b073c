"""The attempt limit: K attempts within D days without a connected outcome, then recycled."""
from datetime import timedelta

import pytest

from referral_app.errors import AttemptLimit
from referral_app.extensions import db
from referral_app.models import LeadEvent
from referral_app.services import leads, sla, sla_alerts
from tests.sla.conftest import MONDAY_10, clock

DAY = timedelta(days=1)


def _attempts(world, lead, outcomes, start=MONDAY_10):
    for i, outcome in enumerate(outcomes):
        leads.log_attempt(lead, world.rep.id, "call", outcome, at=start + i * DAY)
    db.session.commit()


def test_the_window_opens_at_the_first_attempt(world):
    lead = world.lead()
    first = MONDAY_10 + timedelta(hours=1)
    leads.log_attempt(lead, world.rep.id, "call", "no_answer", at=first)
    window = clock(lead, "attempt_limit")
    assert (window.started_at, window.due_at, window.status) == (first, first + 16 * DAY, "running")


def test_max_attempts_without_connected_recycles_and_refuses_the_next(world):
    lead = world.lead()
    _attempts(world, lead, ["no_answer", "voicemail", "bounced"])
    assert lead.stage == "new"
    _attempts(world, lead, ["no_answer"], start=MONDAY_10 + 3 * DAY)
    assert lead.stage == "recycled" and not lead.is_open
    event = db.session.scalars(db.select(LeadEvent).where(LeadEvent.lead_id == lead.id,
                                                          LeadEvent.to_stage == "recycled")).one()
    assert event.reason == "4 attempts within 16 days without a connected outcome"
    assert clock(lead, "attempt_limit").status == "met"
    with pytest.raises(AttemptLimit) as refused:
        leads.log_attempt(lead, world.rep.id, "call", "no_answer", at=MONDAY_10 + 4 * DAY)
    assert "4 attempts within 16 days" in refused.value.message
    assert refused.value.code == "attempt_limit"


def test_a_connected_outcome_lifts_the_limit(world):
    lead = world.lead()
    _attempts(world, lead, ["no_answer", "connected", "no_answer", "no_answer", "no_answer"])
    assert lead.stage == "new" and lead.is_open
    window = clock(lead, "attempt_limit")
    assert (window.status, window.met_at) == ("met", MONDAY_10 + DAY)
    assert clock(lead, "decision") is not None
    assert leads.attempt_stats(lead) == (5, True)


def test_the_window_ends_without_connected_the_sweep_breaches_and_the_lead_is_recycled(world):
    lead = world.lead()
    _attempts(world, lead, ["no_answer", "voicemail"])
    window = clock(lead, "attempt_limit")
    end = window.due_at
    assert sla.sweep(end) == []  # due_at < now, strictly
    assert window.id in sla.sweep(end + timedelta(seconds=1))
    db.session.commit()
    assert sla_alerts.handle_breach(window.id, end + timedelta(minutes=1)) == "recycled"
    db.session.commit()
    assert lead.stage == "recycled"
    assert "16-day attempt window ended" in lead.close_reason


def test_an_attempt_after_the_window_ended_is_refused_before_the_sweep_runs(world):
    lead = world.lead()
    _attempts(world, lead, ["no_answer"])
    end = clock(lead, "attempt_limit").due_at
    with pytest.raises(AttemptLimit) as refused:
        leads.log_attempt(lead, world.rep.id, "call", "no_answer", at=end + timedelta(minutes=1))
    assert "attempt window ended" in refused.value.message
    assert leads.attempt_stats(lead) == (1, False)


def test_attempts_through_the_api_get_409_attempt_limit(world, api):
    lead = world.lead()
    rep = api(world.rep)
    for _ in range(4):
        response = rep.post(f"/api/v1/leads/{lead.id}/attempts",
                            json={"channel": "email", "outcome": "no_answer", "note": "x"})
        assert response.status_code == 201, response.json
    assert response.json["lead"]["stage"] == "recycled"
    response = rep.post(f"/api/v1/leads/{lead.id}/attempts",
                        json={"channel": "email", "outcome": "no_answer"})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "attempt_limit"
    assert response.json["error"]["message"].endswith("no more attempts can be logged.")
