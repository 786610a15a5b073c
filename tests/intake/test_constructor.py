"""The models' constructor: plain columns straight into the row, everything else as before."""
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, select

from referral_app.models import Lead, LeadEvent, Referral, User

AT = datetime(2026, 3, 2, 15, tzinfo=UTC)


def test_a_validated_column_still_goes_through_its_validator():
    user = User(email="  Rhea@Prospect.Example ", name="Rhea", role="referrer")
    assert user.email == "rhea@prospect.example"  # @validates lower-cases it


def test_an_unknown_keyword_is_refused_as_before():
    with pytest.raises(TypeError, match="'colour' is an invalid keyword argument for Lead"):
        Lead(stage="new", colour="red")


def test_relationships_still_wire_both_sides():
    referral = Referral(referee_name="Rhea", referee_email="rhea@prospect.example")
    lead = Lead(referral=referral, stage="new", email="rhea@prospect.example")
    event = LeadEvent(lead=lead, kind="stage", to_stage="new", at=AT)
    assert referral.lead is lead and lead.events == [event]
    assert inspect(lead).transient and lead.__dict__["stage"] == "new"


def test_rows_built_so_are_inserted_and_changed_like_any_other(db, world):
    """The flush inserts what the row's dict holds; a later change is an UPDATE as ever."""
    referral = Referral(program=world.program, referrer=world.referrer, source="api",
                        status="submitted", hold_reasons=[], referee_name="Rhea",
                        referee_email="rhea@prospect.example", note="", consent_at=AT,
                        created_at=AT)
    lead = Lead(referral=referral, program=world.program, product=world.program.product,
                email="rhea@prospect.example", open_email="rhea@prospect.example",
                stage="new", is_open=True, received_at=AT)
    db.session.add(referral)
    db.session.commit()
    assert lead.referral_id == referral.id and lead.program_id == world.program.id
    lead.stage = "mql"
    assert inspect(lead).attrs.stage.history.deleted == ["new"]
    db.session.commit()
    db.session.expire_all()
    assert db.session.scalar(select(Lead.stage).where(Lead.id == lead.id)) == "mql"
    assert db.session.get(Referral, referral.id).referee_email == "rhea@prospect.example"
