"""intake.submit: creation, normalisation, routing, clocks, jobs and velocity holds."""
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from referral_app.errors import ValidationFailed
from referral_app.jobs.queues import pending_jobs
from referral_app.models import Lead, LeadEvent, Referral, ReferralCode, RefusedReferral, SlaClock
from referral_app.services import assignment, codes, intake
from tests import factories as f
from tests.intake.conftest import referee

MONDAY_10_NY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 10:00 in New York


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_portal_referral_creates_lead_event_assignment_and_clock(world, db):
    referral = intake.submit("widgets", referee(), source="portal",
                             referrer_id=world.referrer.id, consent=True, note=" call her ",
                             ip="203.0.113.9", at=MONDAY_10_NY)
    lead = referral.lead
    assert (referral.status, referral.source, referral.hold_reasons) == ("submitted", "portal", [])
    assert referral.note == "call her" and referral.consent_at == MONDAY_10_NY
    assert referral.code_id == codes.code_for(world.referrer.id, world.program.id).id
    assert (lead.email, lead.open_email, lead.stage) == ("rhea1@prospect.example",) * 2 + ("new",)
    assert lead.received_at == MONDAY_10_NY and lead.product == "Widget"
    events = db.session.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead.id)
                                .order_by(LeadEvent.id)).all()
    assert [(e.kind, e.to_stage) for e in events] == [("stage", "new"), ("assign", "new")]
    assert events[0].data == {"source": "portal"} and events[0].actor_id == world.referrer.id
    # Round robin: both reps never assigned, so the first by id; the clock starts now.
    assert lead.owner_id == world.reps[0].id and lead.assigned_at == MONDAY_10_NY
    clock = db.session.scalar(select(SlaClock).where(SlaClock.lead_id == lead.id))
    assert clock.kind == "first_attempt" and clock.started_at == MONDAY_10_NY
    assert clock.due_at == MONDAY_10_NY + timedelta(hours=5)  # 5 business hours, same day
    jobs = [(j["func"], j["args"], j["queue"]) for j in pending_jobs()]
    assert ("referral_app.jobs.rewards.referral_submitted", (referral.id,), "default") in jobs


def test_referee_fields_are_trimmed_and_normalised(world, db):
    referral = intake.submit(world.program.id, {
        "name": "  Rhea  Ray ", "email": " Rhea.Ray@Prospect.EXAMPLE ", "phone": "(650) 253-0000",
        "country": "us", "company": "  ", "title": ""}, source="portal",
        referrer_id=world.referrer.id, consent=True)
    assert referral.referee_name == "Rhea  Ray"
    assert referral.referee_email == "rhea.ray@prospect.example"
    assert referral.referee_phone == "+16502530000" and referral.referee_country == "US"
    assert referral.referee_company is None and referral.referee_title is None


@pytest.mark.parametrize("fields, field", [
    ({"email": "not-an-email"}, "referee.email"),
    ({"name": "   "}, "referee.name"),
    ({"phone": "12345"}, "referee.phone"),
    ({"phone": "+1 000 000"}, "referee.phone"),
    ({"country": "XX"}, "referee.country"),
    ({"country": "USA"}, "referee.country"),
    ({"company": "x" * 201}, "referee.company"),
])
def test_invalid_fields_are_422_with_the_field_named_and_not_refusals(world, db, fields, field):
    with pytest.raises(ValidationFailed) as caught:
        intake.submit("widgets", referee(**fields), source="api", referrer_id=world.referrer.id,
                      consent=True)
    assert caught.value.code == "invalid" and caught.value.status == 422
    assert field in caught.value.fields
    assert count(db, Referral) == 0 and count(db, RefusedReferral) == 0


def test_missing_consent_beside_other_errors_is_one_answer(world, db):
    with pytest.raises(ValidationFailed) as caught:
        intake.submit("widgets", referee(email="nope"), source="portal",
                      referrer_id=world.referrer.id, consent=False)
    assert {"referee.email", "consent"} <= set(caught.value.fields)


def test_round_robin_skips_away_inactive_and_other_products(world, db):
    away = f.user("sales", product="Widget", away=True)
    gone = f.user("sales", product="Widget", active=False)
    other = f.user("sales", product="Gadget")
    owners = []
    for n in range(4):
        referral = intake.submit("widgets", referee(n), source="portal",
                                 referrer_id=world.referrer.id, consent=True,
                                 at=MONDAY_10_NY + timedelta(minutes=n))
        owners.append(referral.lead.owner_id)
    rep1, rep2 = (r.id for r in world.reps)
    assert owners == [rep1, rep2, rep1, rep2]
    assert not {away.id, gone.id, other.id} & set(owners)


def test_no_rep_leaves_the_lead_unassigned_without_clocks(world, db):
    for rep in world.reps:
        rep.away = True
    referral = intake.submit("widgets", referee(), source="portal",
                             referrer_id=world.referrer.id, consent=True)
    assert referral.lead.owner_id is None and referral.lead.assigned_at is None
    assert count(db, SlaClock) == 0
    # Assigned later (by a manager), the clock starts at that moment.
    later = MONDAY_10_NY + timedelta(days=1)
    assignment.assign(referral.lead, world.reps[0], later, actor_id=world.reps[0].id)
    clock = db.session.scalar(select(SlaClock))
    assert clock.started_at == later and referral.lead.owner_id == world.reps[0].id


def test_mql_on_arrival_moves_the_lead_to_mql(world, db):
    world.program.mql_on_arrival = True
    referral = intake.submit("widgets", referee(), source="portal",
                             referrer_id=world.referrer.id, consent=True)
    assert referral.lead.stage == "mql"
    assert any(j["func"].endswith("stage_changed") for j in pending_jobs())


def test_landing_submission_counts_on_the_code_and_credits_its_owner(world, db):
    code = codes.code_for(world.referrer.id, world.program.id)
    intake.count_visit(code.id)
    intake.count_visit(code.id)
    referral = intake.submit(None, referee(), source="landing", code=code.code.lower(),
                             consent=True, ip="198.51.100.7", fingerprint="f" * 64)
    db.session.commit()
    db.session.refresh(code)
    assert (code.visits, code.submissions) == (2, 1)
    assert referral.referrer_id == world.referrer.id and referral.code_id == code.id
    assert referral.program_id == world.program.id and referral.ip == "198.51.100.7"


def test_velocity_per_referrer_holds_but_still_creates_the_lead(world, db):
    world.program.velocity_per_hour = 2
    statuses = []
    for n in range(3):
        referral = intake.submit("widgets", referee(n), source="api",
                                 referrer_id=world.referrer.id, consent=True,
                                 at=MONDAY_10_NY + timedelta(minutes=n))
        statuses.append((referral.status, referral.hold_reasons, referral.lead is not None))
    assert statuses[:2] == [("submitted", [], True)] * 2
    assert statuses[2] == ("held", ["referrer_velocity"], True)
    later = intake.submit("widgets", referee(9), source="api", referrer_id=world.referrer.id,
                          consent=True, at=MONDAY_10_NY + timedelta(minutes=61))
    assert later.status == "submitted"  # the first two are more than an hour old by now


def test_velocity_per_ip_holds_referees_from_one_address(world, db):
    world.program.velocity_per_ip = 2
    code = codes.code_for(world.partner.id, world.program.id)
    results = [intake.submit(None, referee(n), source="landing", code=code, consent=True,
                             ip="192.0.2.1", at=MONDAY_10_NY + timedelta(hours=n))
               for n in range(3)]
    assert [r.status for r in results] == ["submitted", "submitted", "held"]
    assert results[2].hold_reasons == ["ip_velocity"]
    other_ip = intake.submit(None, referee(7), source="landing", code=code, consent=True,
                             ip="192.0.2.2", at=MONDAY_10_NY + timedelta(hours=3))
    assert other_ip.status == "submitted"


def test_both_velocity_limits_are_counted_together_and_each_gives_its_reason(world, db):
    world.program.velocity_per_hour, world.program.velocity_per_ip = 2, 3
    results = [intake.submit("widgets", referee(n), source="api", referrer_id=world.referrer.id,
                             consent=True, ip="192.0.2.9", at=MONDAY_10_NY + timedelta(minutes=n))
               for n in range(4)]
    assert [r.hold_reasons for r in results] == [
        [], [], ["referrer_velocity"], ["referrer_velocity", "ip_velocity"]]
    partner = intake.submit("widgets", referee(8), source="api", referrer_id=world.partner.id,
                            consent=True, ip="192.0.2.9", at=MONDAY_10_NY + timedelta(minutes=5))
    assert partner.hold_reasons == ["ip_velocity"]  # the address, not the partner, is over


def test_a_failure_after_the_insert_leaves_nothing_behind(world, db, monkeypatch):
    def broken(lead, kind, agreement, at):
        raise RuntimeError("the SLA service is down")

    monkeypatch.setattr("referral_app.services.sla.new_clock", broken)
    with pytest.raises(RuntimeError):
        intake.submit("widgets", referee(), source="portal", referrer_id=world.referrer.id,
                      consent=True)
    db.session.rollback()  # what every caller does on an error that is not a refusal
    assert [count(db, m) for m in (Referral, Lead, LeadEvent, SlaClock, RefusedReferral)] == \
        [0, 0, 0, 0, 0]
    assert pending_jobs() == []


def test_unknown_program_or_code_is_not_found(world, db):
    from referral_app.errors import NotFound

    with pytest.raises(NotFound):
        intake.submit("nope", referee(), source="api", referrer_id=world.referrer.id,
                      consent=True)
    with pytest.raises(NotFound):
        intake.submit(None, referee(), source="landing", code="ZZZZZZZZ", consent=True)
    assert count(db, RefusedReferral) == 0


def test_code_counters_are_updates_not_read_modify_write(world, db):
    code = codes.code_for(world.referrer.id, world.program.id)
    db.session.commit()
    stale = code.visits
    intake.count_visit(code.id)
    intake.count_visit(code.id)
    db.session.commit()
    fresh = db.session.scalar(select(ReferralCode.visits).where(ReferralCode.id == code.id))
    assert (stale, fresh) == (0, 2)


def test_claim_turns_goes_round_the_reps_and_writes_each_ones_last_turn(world, db):
    """A group's turns in one go (claim_turns: one statement on PostgreSQL): the reps in
    round-robin order, wrapping round, each rep's last_assigned_at its own last turn; away,
    inactive and other products' reps never take one."""
    f.user("sales", product="Widget", away=True)
    f.user("sales", product="Gadget")
    first, second = world.reps
    first.last_assigned_at = MONDAY_10_NY - timedelta(days=1)  # second has never had a turn
    db.session.commit()
    turns = assignment.claim_turns("Widget", 5, MONDAY_10_NY)
    db.session.commit()
    assert turns == [second.id, first.id, second.id, first.id, second.id]
    db.session.expire_all()
    assert second.last_assigned_at == MONDAY_10_NY + timedelta(microseconds=4)
    assert first.last_assigned_at == MONDAY_10_NY + timedelta(microseconds=3)
    # The next group starts with the rep whose last turn is older.
    assert assignment.claim_turns("Widget", 1, MONDAY_10_NY)[0] == first.id
    assert assignment.claim_turns("Gadget-less", 3, MONDAY_10_NY) == []
