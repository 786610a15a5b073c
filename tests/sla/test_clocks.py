"""Clock start, met, breach and late semantics, with explicit instants and a frozen clock."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import time_machine

from referral_app.extensions import db
from referral_app.jobs.queues import pending_jobs
from referral_app.services import leads, sla
from tests import factories as f
from tests.sla.conftest import MONDAY_10, clock

NY_15 = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)  # Monday 15:00 New York = 10:00 + 5 business h


def test_first_attempt_clock_due_in_business_hours_and_stored(world):
    lead = world.lead()
    first = clock(lead)
    assert (first.status, first.started_at, first.due_at) == ("running", MONDAY_10, NY_15)
    assert first.owner_id == world.rep.id and first.agreement_id == world.agreement.id
    assert lead.agreement_id == world.agreement.id and lead.sla_due_at == NY_15


def test_business_clock_skips_the_night_and_the_weekend(world):
    friday_15 = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)  # Friday 15:00 New York
    lead = world.lead(at=friday_15)
    # 2 hours on Friday, 3 on Monday; DST starts on Sunday 8 March, so Monday is UTC-4.
    assert clock(lead).due_at == datetime(2026, 3, 9, 16, 0, tzinfo=UTC)


def test_calendar_clock_counts_wall_clock_hours(world):
    world.agreement.first_attempt_clock = "calendar"
    world.agreement.first_attempt_hours = Decimal("24")
    friday_15 = datetime(2026, 3, 6, 20, 0, tzinfo=UTC)
    lead = world.lead(at=friday_15)
    assert clock(lead).due_at == friday_15 + timedelta(hours=24)


def test_due_time_is_fixed_at_start_and_the_lead_keeps_its_agreement_version(world):
    lead = world.lead()
    world.agreement.first_attempt_hours = Decimal("1")
    world.agreement.status = "superseded"
    newer = f.agreement(cal=world.agreement.calendar, version=2, first_attempt_hours=Decimal("1"))
    db.session.commit()
    assert clock(lead).due_at == NY_15
    assert lead.agreement_id == world.agreement.id != newer.id
    assert sla.agreement_for("Widget").id == newer.id


def test_attempt_at_the_due_time_meets_the_clock(world):
    lead = world.lead()
    leads.log_attempt(lead, world.rep.id, "call", "no_answer", at=NY_15)
    first = clock(lead)
    assert (first.status, first.met_at, first.breached_at) == ("met", NY_15, None)
    assert lead.first_attempt_at == NY_15


def test_late_attempt_before_any_sweep_is_a_breach_with_met_at(world):
    lead = world.lead()
    late = NY_15 + timedelta(seconds=1)
    leads.log_attempt(lead, world.rep.id, "call", "voicemail", at=late)
    first = clock(lead)
    assert (first.status, first.met_at, first.breached_at) == ("breached", late, late)
    assert sla.job_id(f"sla-breach-{first.id}") in [j["job_id"] for j in pending_jobs()]


def test_once_breached_stays_breached_when_the_attempt_comes(world):
    lead = world.lead()
    assert sla.sweep(NY_15 + timedelta(minutes=1)) == [clock(lead).id]
    db.session.commit()
    leads.log_attempt(lead, world.rep.id, "email", "no_answer", at=NY_15 + timedelta(hours=2))
    first = clock(lead)
    assert first.status == "breached"
    assert first.met_at == NY_15 + timedelta(hours=2)
    assert first.breached_at == NY_15 + timedelta(minutes=1)


def test_no_clock_without_an_agreement(world):
    prog = f.program(product="Gadget")
    lead = f.lead(prog, owner=world.rep)
    assert sla.start_clocks(lead, MONDAY_10) == []
    assert lead.agreement_id is None and lead.sla_due_at is None


def test_start_clocks_twice_does_not_restart(world):
    lead = world.lead()
    again = sla.start_clocks(lead, MONDAY_10 + timedelta(hours=3))
    assert again[0].started_at == MONDAY_10 and again[0].due_at == NY_15


def test_decision_clock_starts_at_the_first_connected_attempt(world):
    lead = world.lead()
    leads.log_attempt(lead, world.rep.id, "call", "no_answer", at=MONDAY_10 + timedelta(hours=1))
    assert clock(lead, "decision") is None
    connected = MONDAY_10 + timedelta(hours=2)  # Monday 12:00 New York
    leads.log_attempt(lead, world.rep.id, "call", "connected", at=connected)
    decision = clock(lead, "decision")
    # 8 business hours: 5 on Monday (12-17), 3 on Tuesday (9-12).
    assert decision.started_at == connected
    assert decision.due_at == datetime(2026, 3, 3, 17, 0, tzinfo=UTC)
    assert lead.sla_due_at == decision.due_at  # the queue now counts down to the decision


def test_accept_in_time_meets_the_decision_and_reject_late_is_a_breach(world):
    lead = world.lead()
    leads.log_attempt(lead, world.rep.id, "call", "connected", at=MONDAY_10)
    due = clock(lead, "decision").due_at
    leads.accept(lead, world.rep.id, at=due)
    assert clock(lead, "decision").status == "met" and lead.stage == "sql"

    late = world.lead(email="late@prospect.example")
    leads.log_attempt(late, world.rep.id, "call", "connected", at=MONDAY_10)
    due = clock(late, "decision").due_at
    leads.reject(late, world.rep.id, "No budget", at=due + timedelta(minutes=5))
    decision = clock(late, "decision")
    assert (decision.status, decision.met_at) == ("breached", due + timedelta(minutes=5))
    assert late.stage == "rejected" and late.sla_due_at is None


def test_closing_a_lead_cancels_its_running_clocks(world):
    lead = world.lead()
    leads.log_attempt(lead, world.rep.id, "call", "no_answer", at=MONDAY_10)
    leads.recycle(lead, world.rep.id, "wrong market", at=MONDAY_10 + timedelta(hours=1))
    assert clock(lead, "attempt_limit").status == "cancelled"
    assert lead.stage == "recycled" and lead.close_reason == "wrong market"


def test_frozen_clock_through_the_api(world, api):
    lead = world.lead()
    rep = api(world.rep)
    with time_machine.travel(NY_15 - timedelta(minutes=1), tick=False):
        assert rep.post(f"/api/v1/leads/{lead.id}/attempts",
                        json={"channel": "call", "outcome": "no_answer"}).status_code == 201
    body = rep.get(f"/api/v1/leads/{lead.id}").json
    assert body["sla"]["first_attempt"]["status"] == "met"
    assert body["sla"]["first_attempt"]["met_at"] == "2026-03-02T19:59:00+00:00"
    assert body["sla"]["attempts"] == {
        "count": 1, "max": 4, "connected": False,
        "window_ends_at": "2026-03-18T19:59:00+00:00"}


def test_first_attempt_stores_its_business_seconds_once(world):
    lead = world.lead()
    # Monday 10:00 → 15:00 New York: exactly five open hours.
    leads.log_attempt(lead, world.rep.id, "call", "no_answer", at=NY_15)
    assert clock(lead).business_seconds == 5 * 3600
    late = world.lead()
    # Later, across the closed night: whatever the agreement calendar counts as open.
    leads.log_attempt(late, world.rep.id, "call", "voicemail",
                      at=NY_15 + timedelta(hours=19, minutes=30))
    stored = clock(late)
    expected = world.agreement.calendar.business().elapsed(stored.started_at, stored.met_at)
    assert stored.status == "breached" and stored.business_seconds == expected.total_seconds()
    leads.log_attempt(late, world.rep.id, "call", "connected", at=NY_15 + timedelta(days=3))
    assert clock(late).business_seconds == expected.total_seconds()  # the first attempt's
