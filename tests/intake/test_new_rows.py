"""services/new_rows writes a group's rows as the ORM's flush writes one referral's: every
column of every row compared, and the rows usable afterwards."""
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select

from referral_app.models import Lead, LeadEvent, Referral, SlaClock
from referral_app.services import definitions, intake, intake_batch, new_rows
from tests.intake.conftest import referee

AT = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # a Tuesday afternoon
# What differs between two referrals by design: their own ids and links, who they are,
# the rep whose turn it was, and the instant each was written (utcnow, not `at`).
OWN = {"id", "referral_id", "lead_id", "referee_name", "referee_email", "email",
       "open_email", "owner_id", "actor_id", "touched_at", "updated_at", "data"}


def _columns(row) -> dict:
    return {prop.key: getattr(row, prop.key) for prop in inspect(type(row)).column_attrs
            if prop.key not in OWN}


def _written(db, referral_id: int) -> dict:
    """Every row of one referral as stored, read back fresh."""
    db.session.expire_all()
    referral = db.session.get(Referral, referral_id)
    lead = referral.lead
    events = db.session.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead.id)
                                .order_by(LeadEvent.id)).all()
    clocks = db.session.scalars(select(SlaClock).where(SlaClock.lead_id == lead.id)).all()
    return {"referral": _columns(referral), "lead": _columns(lead),
            "events": [_columns(e) for e in events], "clocks": [_columns(c) for c in clocks],
            "event data": [sorted(e.data) for e in events],
            "links": (lead.referral_id == referral.id, lead.owner_id is not None,
                      [e.actor_id for e in events].count(None), lead.touched_at is not None)}


def test_a_groups_rows_are_the_rows_one_referral_gets_alone(world, db):
    definitions.save_definition("Widget", 10, [
        {"field": "country", "operator": "in", "value": "US", "points": 10}], ["Budget"])
    db.session.commit()
    alone = intake.submit(world.program.id, referee(1), source="api",
                          referrer_id=world.referrer.id, consent=True, ip="203.0.113.9",
                          company_size=40, deal_value="1200.50", at=AT)
    db.session.commit()
    group = intake_batch.submit_many([intake_batch.Submission(
        world.program.id, referee(n), source="api", referrer_id=world.referrer.id,
        consent=True, ip="203.0.113.9", company_size=40, deal_value="1200.50")
        for n in (2, 3)], AT)
    db.session.commit()
    assert all(new_rows.model_of(r) is Referral for r in group)
    expected = _written(db, alone.id)
    assert [e["to_stage"] for e in expected["events"]] == ["new", "mql", "mql"]  # arrival, move, assignment
    assert expected["lead"]["stages_entered"] and expected["clocks"]
    for referral in group:
        assert _written(db, referral.id) == expected


def test_a_groups_rows_are_written_without_joining_the_session(world, db):
    """On PostgreSQL a group's rows are built plain and inserted by new_rows: nothing of
    them is in the session, the answer's values are on them, and the stored rows are
    ordinary rows to read and change afterwards."""
    out = intake_batch.submit_many([intake_batch.Submission(
        world.program.id, referee(n), source="api", referrer_id=world.referrer.id,
        consent=True) for n in (1, 2)], AT)
    first = out[0]
    assert first.lead.referral is first and first.code.referrer_id == world.referrer.id
    assert first.id and first.lead.id and first.status == "submitted" and first.lead.stage
    if db.engine.dialect.name == "postgresql":
        assert all(isinstance(r, new_rows.Plain) for r in out)
        assert not db.session.new and not db.session.dirty
        assert not [row for row in db.session if isinstance(row, Referral | Lead | LeadEvent)]
    db.session.commit()
    db.session.expire_all()
    lead = db.session.get(Lead, first.lead.id)
    assert lead.referral_id == first.id and [e.to_stage for e in lead.events] == ["new", "new"]
    assert lead.clocks and lead.owner_id is not None
    lead.stage = "working"  # an ordinary change after: an UPDATE at commit
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Lead, lead.id).stage == "working"
    assert db.session.scalar(select(Lead.stage).where(Lead.id == out[1].lead.id)) == "new"


def test_a_plain_row_reads_as_a_new_orm_row_does():
    referral = new_rows.Plain(Referral, referee_email="Rhea@Prospect.Example", status="held")
    lead = new_rows.Plain(Lead, referral=referral, stage="new")
    assert referral.referee_email == "rhea@prospect.example"  # the model's validator ran
    assert referral.lead is lead and lead.referral is referral  # the one-to-one backref
    assert lead.owner_id is None and lead.agreement is None  # unset: None, as on Lead()
    assert new_rows.model_of(lead) is Lead and new_rows.model_of(Lead()) is Lead
    event = new_rows.child(LeadEvent, lead, lead=lead, kind="stage")
    assert isinstance(event, new_rows.Plain) and event.lead is lead
    assert isinstance(new_rows.child(LeadEvent, Lead(), kind="stage"), LeadEvent)
    with pytest.raises(TypeError, match="invalid keyword argument for Lead"):
        new_rows.Plain(Lead, colour="blue")
    with pytest.raises(AttributeError, match="Lead has no attribute 'colour'"):
        assert lead.colour
    with pytest.raises(AttributeError, match="read it back"):  # no lazy load of a list
        assert lead.events
