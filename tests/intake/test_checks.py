"""Every intake check refuses with its own code and leaves a RefusedReferral for marketing."""
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from referral_app.errors import DomainError
from referral_app.models import Lead, Purchase, Referral, RefusedReferral, SlaClock
from referral_app.services import intake
from referral_app.services import intake_checks as checks
from tests import factories as f
from tests.intake.conftest import referee


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def refused(world, db, code: str, status: int, **kwargs) -> RefusedReferral:
    """Submit, expect the refusal, commit as callers do, and return its record."""
    args = dict(source="portal", referrer_id=world.referrer.id, consent=True)
    args.update(kwargs)
    program = args.pop("program", "widgets")
    person = args.pop("referee", referee())
    before = count(db, Referral)
    with pytest.raises(DomainError) as caught:
        intake.submit(program, person, **args)
    assert (caught.value.code, caught.value.status) == (code, status)
    assert intake.is_refusal(caught.value)
    db.session.commit()  # the caller keeps the record; the attempt itself left nothing
    assert count(db, Referral) == before
    row = db.session.scalars(select(RefusedReferral).order_by(RefusedReferral.id.desc())).first()
    assert row.reason == code and row.source == args["source"]
    return row


def test_duplicate_open_lead_in_any_program(world, db):
    other = f.program(product="Gadget")
    f.lead(other, email="rhea1@prospect.example", stage="sql")
    row = refused(world, db, "duplicate", 409)
    assert row.email == "rhea1@prospect.example" and row.program_id == world.program.id
    assert row.referrer_id == world.referrer.id and row.payload["referee"]["name"]


def test_duplicate_is_found_whatever_the_case_of_the_email(world, db):
    f.lead(world.program, email="rhea1@prospect.example")
    refused(world, db, "duplicate", 409, referee=referee(email="RHEA1@Prospect.Example"))


def test_a_won_lead_or_a_purchase_is_a_customer(world, db):
    f.lead(world.program, email="won@prospect.example", stage="won")
    refused(world, db, "duplicate", 409, referee=referee(email="won@prospect.example"))
    db.session.add(Purchase(external_id="inv-1", email="buyer@prospect.example",
                            amount=Decimal("10.00"), currency="USD",
                            purchased_at=datetime(2026, 1, 5, tzinfo=UTC)))
    refused(world, db, "duplicate", 409, referee=referee(email="buyer@prospect.example"))


def test_a_lost_lead_may_be_referred_again(world, db):
    f.lead(world.program, email="rhea1@prospect.example", stage="lost")
    referral = intake.submit("widgets", referee(), source="portal",
                             referrer_id=world.referrer.id, consent=True)
    assert referral.lead.open_email == "rhea1@prospect.example"


def test_self_referral_by_own_email(world, db):
    row = refused(world, db, "self_referral", 422,
                  referee=referee(email="Carla@Customer.example"))
    assert row.email == "carla@customer.example"


def test_self_referral_by_company_domain_only_when_the_program_says_so(world, db):
    colleague = referee(email="boss@customer.example")
    referral = intake.submit("widgets", colleague, source="portal",
                             referrer_id=world.referrer.id, consent=True)
    assert referral.id  # allowed by default
    world.program.block_same_domain = True
    refused(world, db, "self_referral", 422, referee=referee(2, email="cfo@customer.example"))


def test_shared_free_mail_domain_is_not_a_company(world, db):
    world.program.block_same_domain = True
    gmail_referrer = f.user("referrer", kind="customer", email="carla.c@gmail.com")
    referral = intake.submit("widgets", referee(email="friend@gmail.com"), source="portal",
                             referrer_id=gmail_referrer.id, consent=True)
    assert referral.status == "submitted"


def test_program_not_open_to_the_referrers_kind(world, db):
    f.program(slug="partners-only", kinds=("partner",))
    refused(world, db, "kind_not_allowed", 403, program="partners-only")


@pytest.mark.parametrize("status", ["paused", "draft", "archived"])
def test_program_not_active(world, db, status):
    f.program(slug="sleepy", status=status)
    refused(world, db, "program_inactive", 409, program="sleepy")


def test_consent_required(world, db):
    with pytest.raises(DomainError) as caught:
        intake.submit("widgets", referee(), source="api", referrer_id=world.referrer.id,
                      consent=False)
    assert caught.value.code == "consent_required" and "consent" in caught.value.fields
    db.session.commit()
    assert db.session.scalar(select(RefusedReferral.reason)) == "consent_required"


def test_every_source_records_its_refusals(world, db):
    f.lead(world.program, email="rhea1@prospect.example")
    from referral_app.services import codes

    code = codes.code_for(world.partner.id, world.program.id)
    for source, extra in (("portal", {}), ("api", {}), ("landing", {"code": code.code})):
        kwargs = dict(source=source, consent=True, **extra)
        if source != "landing":
            kwargs["referrer_id"] = world.referrer.id
        with pytest.raises(DomainError):
            intake.submit(None if source == "landing" else "widgets", referee(), **kwargs)
        db.session.commit()
    sources = db.session.scalars(select(RefusedReferral.source).order_by(RefusedReferral.id))
    assert list(sources) == ["portal", "api", "landing"]


def test_the_constraint_catches_what_the_check_missed(world, db, monkeypatch):
    """Two submissions racing past the check: the unique open_email turns the second into a
    duplicate, inside a savepoint, so the caller's transaction stays usable."""
    f.lead(world.program, email="rhea1@prospect.example")
    db.session.commit()
    monkeypatch.setattr(checks, "check_duplicate", lambda email, known=None: None)
    refused(world, db, "duplicate", 409)
    assert count(db, Lead) == 1 and count(db, SlaClock) == 0
    assert count(db, RefusedReferral) == 1
