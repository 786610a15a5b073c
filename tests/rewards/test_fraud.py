"""Fraud holds: each reason puts the reward on hold with the evidence; honest ones pass."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event

from referral_app.models import Purchase
from referral_app.services import conversion, fraud, reward_states, rewards
from tests import factories as f
from tests.rewards.conftest import rule


@pytest.mark.parametrize("referrer_email, referee_email, held", [
    ("john.doe@gmail.com", "johndoe+friend@googlemail.com", True),
    ("John.Doe@Gmail.com", "j.o.h.n.d.o.e@gmail.com", True),
    ("ann@corp.example", "ann+2@corp.example", True),
    ("ann.lee@corp.example", "annlee@corp.example", False),  # dots matter outside Gmail
    ("ann@corp.example", "bob@corp.example", False),
])
def test_self_referral_by_email_variants(db, program, referral, referrer_email, referee_email,
                                         held):
    prog = program(rule())
    ref = referral(prog, f.user(email=referrer_email.lower()), email=referee_email)
    (reward,) = rewards.fire(ref.id, "won")
    assert (reward.status == "held") is held
    assert ("self_referral" in reward.hold_reasons) is held


def test_disposable_domains(db, program, referral):
    prog = program(rule())
    held = rewards.fire(referral(prog, f.user(), email="x@mailinator.com").id, "won")[0]
    sub = rewards.fire(referral(prog, f.user(), email="y@eu.yopmail.com").id, "won")[0]
    fine = rewards.fire(referral(prog, f.user(), email="z@notmailinator.com").id, "won")[0]
    assert held.hold_reasons == ["disposable_email"] and sub.hold_reasons == ["disposable_email"]
    assert fine.status == "pending" and fine.hold_reasons == []


def test_referee_already_a_customer(db, program, referral):
    prog = program(rule())
    f.user("referrer", kind="customer", email="known@client.example")
    (reward,) = rewards.fire(referral(prog, f.user(), email="known@client.example").id, "won")
    assert reward.hold_reasons == ["existing_customer"]
    # A lead won before this referral makes them a customer too.
    f.lead(prog, email="bought@client.example", stage="won",
           received_at=datetime(2025, 1, 1, tzinfo=UTC)).closed_at = datetime(2025, 2, 1, tzinfo=UTC)
    again = referral(prog, f.user(), email="bought@client.example")
    assert rewards.fire(again.id, "won")[0].hold_reasons == ["existing_customer"]


@pytest.mark.parametrize("column, reason", [("ip", "shared_ip"), ("fingerprint", "shared_device")])
def test_many_referees_from_one_ip_or_device(db, program, referral, column, reason):
    prog = program(rule())
    value = "203.0.113.7" if column == "ip" else "f" * 64
    referrer = f.user()
    first = referral(prog, referrer, **{column: value})
    second = referral(prog, referrer, **{column: value})
    assert rewards.fire(second.id, "won")[0].hold_reasons == []  # two friends in one office
    third = referral(prog, referrer, **{column: value})
    (reward,) = rewards.fire(third.id, "won")
    assert reward.status == "held" and reward.hold_reasons == [reason]
    shown = dict(fraud.evidence(third, reward.hold_reasons))
    assert first.referee_email in next(iter(shown.values()))


def test_purchase_before_the_referral(db, program, referral):
    prog = program(rule("get", "purchase"))
    ref = referral(prog, f.user(), email="early@buyer.example")
    db.session.add(Purchase(external_id="inv-1", email="early@buyer.example",
                            amount=Decimal("10"), currency="USD", status="unmatched",
                            purchased_at=ref.created_at - timedelta(days=3)))
    (reward,) = rewards.fire(ref.id, "purchase")
    assert reward.hold_reasons == ["purchase_before_referral"]
    assert "inv-1" in dict(fraud.evidence(ref, reward.hold_reasons))[
        fraud.describe("purchase_before_referral")]


def test_held_rewards_are_approved_or_rejected_by_marketing(db, program, referral):
    prog = program(rule(), rule("give", "won", amount="20"))
    ref = referral(prog, f.user(), email="a@mailinator.com")
    get, give = rewards.fire(ref.id, "won")
    marketer = f.user("marketing")
    assert reward_states.approve(get.id, marketer.id).status == "approved"
    assert reward_states.reject(give.id, "fraud confirmed", marketer.id).status == "rejected"
    assert give.reason == "fraud confirmed"


def test_intake_holds_carry_over(db, program, referral):
    prog = program(rule())
    ref = referral(prog, f.user(), status="held", hold_reasons=["velocity"])
    assert rewards.fire(ref.id, "won")[0].hold_reasons == ["velocity"]


def test_lookups_by_email_compare_the_stored_column(db, program, referral):
    """The rewards job runs these checks for every referral, and purchase matching for every
    purchase: `lower(email) = …` could use no index and read whole tables (0.3 s a referral
    at a million leads). E-mails are stored lower-cased, so the lookups compare the column."""
    prog = program(rule())
    ref = referral(prog, f.user(), email="Someone@Corp.example")
    ref.ip, ref.fingerprint = "203.0.113.9", "device-1"  # the shared-source checks run too
    assert ref.referee_email == "someone@corp.example" and ref.lead.email == ref.referee_email
    seen = []
    engine = db.session.get_bind()

    def capture(conn, cursor, statement, params, context, many):
        seen.append(" ".join(statement.split()).upper())

    event.listen(engine, "before_cursor_execute", capture)
    try:
        fraud.hold_reasons(ref)
        conversion.find_referral(Purchase(email="someone@corp.example", external_id="x",
                                          purchased_at=ref.created_at + timedelta(days=1)))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    by_email = [s for s in seen if "EMAIL" in s.partition(" WHERE ")[2]]
    assert len(by_email) >= 4  # customer, won lead, earlier purchases, the purchase's match
    assert not [s for s in by_email if "LOWER(" in s.partition(" WHERE ")[2]], by_email
