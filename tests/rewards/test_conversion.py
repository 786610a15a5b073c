"""Conversion: recording purchases, attribution by code / e-mail / domain in the window, refunds."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from referral_app.errors import ValidationFailed
from referral_app.jobs import purchases as purchase_jobs
from referral_app.jobs.queues import pending_jobs
from referral_app.models import LeadEvent, Purchase, Reward
from referral_app.services import conversion, reward_states, rewards
from tests import factories as f
from tests.rewards.conftest import rule

NOW = datetime(2026, 6, 15, 12, tzinfo=UTC)


def buy(email, days_after=0, code=None, amount="1000", external_id=None, at=None):
    purchase, created = conversion.record_purchase(
        external_id or f"inv-{email}-{days_after}", email, Decimal(amount), "USD",
        at or NOW + timedelta(days=days_after), code)
    return purchase


def at(days_before):
    return NOW - timedelta(days=days_before)


def test_same_external_id_twice_changes_nothing(db):
    first = buy("a@b.example", external_id="inv-1")
    second, created = conversion.record_purchase("inv-1", "other@x.example", Decimal("5"), "EUR",
                                                 NOW, None)
    assert created is False and second.id == first.id
    assert (second.email, second.amount) == ("a@b.example", Decimal("1000.00"))
    assert db.session.scalar(select(func.count(Purchase.id))) == 1
    assert [j["args"] for j in pending_jobs() if j["func"].endswith("purchases.match")] == \
        [(first.id,)]


def test_unknown_code_is_refused(db):
    with pytest.raises(ValidationFailed) as refused:
        buy("a@b.example", code="NOPE1234")
    assert "referral_code" in refused.value.fields


def test_match_by_referral_code(db, program, referral):
    prog = program()
    referrer = f.user()
    code = f.code(referrer, prog)
    ref = referral(prog, referrer, email="jane@acme.example", received_at=at(10))
    ref.code_id = code.id
    purchase = buy("billing@elsewhere.example", code=code.code.lower())
    assert conversion.find_referral(purchase) == (ref, "code")


def test_match_by_email_then_domain(db, program, referral):
    prog = program()
    jane = referral(prog, f.user(), email="Jane@Acme.example", received_at=at(10))
    assert conversion.find_referral(buy("jane@acme.example")) == (jane, "email")
    assert conversion.find_referral(buy("cfo@acme.example")) == (jane, "domain")
    # A shared mail provider says nothing about the company.
    referral(prog, f.user(), email="joe@gmail.com", received_at=at(10))
    assert conversion.find_referral(buy("someone@gmail.com")) == (None, None)


def test_attribution_window_and_last_referral_wins(db, program, referral):
    short = program(attribution_window_days=30)
    long = program(attribution_window_days=90)
    # One open lead per e-mail: the earlier referrals were closed (lost) meanwhile.
    old = referral(long, f.user(), email="x@y.example", received_at=at(80), stage="lost")
    expired = referral(short, f.user(), email="x@y.example", received_at=at(40), stage="lost")
    assert conversion.find_referral(buy("x@y.example")) == (old, "email")  # 40 > 30 days
    newer = referral(short, f.user(), email="x@y.example", received_at=at(5))
    assert conversion.find_referral(buy("x@y.example", 1)) == (newer, "email")
    # Nothing in any window: left for marketing; a referral after the purchase never counts.
    assert conversion.find_referral(buy("x@y.example", -100)) == (None, None)
    assert expired.id != newer.id


def test_a_matched_purchase_wins_the_lead_and_fires_rewards(db, program, referral):
    prog = program(rule("get", "purchase", "percent", "10"), rule("get", "won", amount="50"),
                   rule("give", "submitted", amount="5"))
    ref = referral(prog, f.user(), email="buyer@acme.example", received_at=at(3))
    purchase = buy("buyer@acme.example", amount="2500")
    db.session.commit()
    assert purchase_jobs.match(purchase.id) == "matched"
    assert purchase_jobs.match(purchase.id) == "matched"  # twice: no second win, no new rewards
    db.session.expire_all()
    lead = ref.lead
    assert (lead.stage, lead.amount, lead.is_open) == ("won", Decimal("2500.00"), False)
    assert (purchase.status, purchase.referral_id, purchase.matched_by) == \
        ("matched", ref.id, "email")
    won = db.session.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead.id,
                                                     LeadEvent.to_stage == "won")).all()
    assert len(won) == 1 and won[0].reason == "purchase"
    got = {r.trigger: r.amount for r in db.session.scalars(select(Reward))}
    assert got == {"purchase": Decimal("250.00"), "won": Decimal("50.00")}


def test_unmatched_purchases_are_listed_and_matched_by_hand(db, program, referral):
    prog = program(rule("get", "purchase"))
    ref = referral(prog, f.user(), email="someone@acme.example", received_at=at(200))
    purchase = buy("new.address@other.example")
    assert conversion.match_purchase(purchase) is None
    assert conversion.unmatched() == [purchase]
    conversion.match_manually(purchase.id, ref.id, f.user("marketing").id)
    assert (purchase.status, purchase.matched_by) == ("matched", "manual")
    assert conversion.unmatched() == []
    assert ref.lead.stage == "won"


def test_refund_within_hold_claws_back_only_the_sale(db, program, referral):
    prog = program(rule("get", "purchase", hold_days=30, requires_approval=False),
                   rule("get", "won", amount="50", hold_days=30),
                   rule("get", "mql", amount="5", requires_approval=False))
    ref = referral(prog, f.user(), email="r@acme.example", received_at=at(3))
    (mql,) = rewards.fire(ref.id, "mql")
    purchase = buy("r@acme.example")
    conversion.match_purchase(purchase)
    rewards_by = {r.trigger: r for r in db.session.scalars(select(Reward))}
    assert rewards_by["purchase"].status == "approved" and rewards_by["won"].status == "pending"
    changed = conversion.refund(purchase, NOW + timedelta(days=10))
    assert {r.trigger: r.status for r in changed} == {"purchase": "void", "won": "rejected"}
    assert rewards_by["purchase"].reason == "refunded"
    assert mql.status == "approved"  # earned before the sale: a refund does not undo it
    assert conversion.refund(purchase, NOW + timedelta(days=11)) == []  # refunded once


def test_refund_after_the_hold_period_keeps_the_reward(db, program, referral):
    prog = program(rule("get", "purchase", hold_days=14, requires_approval=False))
    referral(prog, f.user(), email="late@acme.example", received_at=at(3))
    purchase = buy("late@acme.example")
    conversion.match_purchase(purchase)
    (reward,) = db.session.scalars(select(Reward)).all()
    reward_states.issue(reward.id, at=NOW + timedelta(days=15))
    assert conversion.refund(purchase, NOW + timedelta(days=20)) == []
    assert reward.status == "issued" and purchase.refunded_at is not None


def test_a_coupon_code_attributes_the_purchase(db, program, referral):
    prog = program(rule("give", "submitted", amount="20", requires_approval=False))
    ref = referral(prog, f.user(), email="friend@acme.example", received_at=at(2))
    (give,) = rewards.fire(ref.id, "submitted")
    code = reward_states.issue(give.id).coupon_code
    purchase = buy("checkout@payments.example", code=code)
    assert conversion.find_referral(purchase) == (ref, "code")
