"""The reward ledger: rewards created by the program's rules, exactly once per rule and referral."""
# Creation applies caps, tiers, fraud holds, hold days and approval here; the state machine
# and its events live in services.reward_states.
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from referral_app.extensions import db
from referral_app.models import Lead, Purchase, Referral, Reward, RewardEvent, RewardRule, User
from referral_app.models.base import utcnow
from referral_app.services import fraud
from referral_app.services.reward_states import after_approval

# Rewards that count toward a referrer's yearly cap and tier (rejected and void do not).
COUNTED = ("pending", "held", "approved", "issued")
CENT = Decimal("0.01")


def fire(referral_id: int, trigger: str, at: datetime | None = None,
         purchase: Purchase | None = None) -> list[Reward]:
    """Create the rewards that the referral's program gives for `trigger`.

    Exactly once per (rule, referral): the unique constraint decides, so a retried or
    duplicated job, or two concurrent triggers, leave one reward; the existing one is
    returned unchanged. `at` is when the trigger happened (the year for caps and tiers,
    the start of the hold period); `purchase` is the base of `percent` rules on purchases.
    """
    referral = db.session.get(Referral, referral_id)
    if referral is None:
        return []
    rules = db.session.scalars(select(RewardRule).where(
        RewardRule.program_id == referral.program_id, RewardRule.trigger == trigger,
        RewardRule.active.is_(True)).order_by(RewardRule.id)).all()
    if not rules:
        return []
    at = at or utcnow()
    _lock_referrer(referral)
    holds = None
    rewards = []
    for rule in rules:
        existing = _existing(rule.id, referral.id)
        if existing is not None:
            rewards.append(existing)
            continue
        if holds is None:
            holds = fraud.hold_reasons(referral, purchase)
        reward = _build(rule, referral, at, purchase, holds)
        try:
            with db.session.begin_nested():
                db.session.add(reward)
                db.session.flush()
                db.session.add(RewardEvent(reward_id=reward.id, from_status=None,
                                           to_status=reward.status, at=utcnow(),
                                           reason=reward.reason or ", ".join(reward.hold_reasons)
                                           or None))
                db.session.flush()
        except IntegrityError:
            rewards.append(_existing(rule.id, referral.id))
            continue
        if reward.status == "approved":
            after_approval(reward)
        rewards.append(reward)
    return rewards


def _existing(rule_id: int, referral_id: int) -> Reward | None:
    return db.session.scalar(select(Reward).where(Reward.rule_id == rule_id,
                                                  Reward.referral_id == referral_id))


def _lock_referrer(referral: Referral) -> None:
    # Serialise reward creation per referrer so two concurrent triggers cannot both slip
    # under the yearly cap. NO KEY UPDATE: inserts that reference the user are not blocked.
    if referral.referrer_id is not None:
        db.session.execute(select(User.id).where(User.id == referral.referrer_id)
                           .with_for_update(key_share=True))
    else:
        db.session.execute(select(Referral.id).where(Referral.id == referral.id)
                           .with_for_update(key_share=True))


def year_bounds(at: datetime) -> tuple[datetime, datetime]:
    """The calendar year (UTC) that `at` falls in: caps and tiers count within it."""
    year = at.astimezone(UTC).year
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def earned_this_year(rule: RewardRule, referrer_id: int | None, at: datetime) -> int:
    """How many rewards like `rule` (same program, side, trigger) the referrer has this year.

    Counted by kind rather than rule id, so a rule that marketing edits (and so replaces)
    does not reset the referrer's count.
    """
    if referrer_id is None:
        return 0
    start, end = year_bounds(at)
    return db.session.scalar(select(func.count(Reward.id)).where(
        Reward.referrer_id == referrer_id, Reward.program_id == rule.program_id,
        Reward.side == rule.side, Reward.trigger == rule.trigger,
        Reward.status.in_(COUNTED), Reward.created_at >= start, Reward.created_at < end))


def tier_amount(rule: RewardRule, nth: int) -> Decimal:
    """The amount for the referrer's `nth` reward of the year: the highest tier reached."""
    amount = Decimal(rule.amount)
    for tier in sorted(rule.tiers or [], key=lambda t: int(t["from"])):
        if nth >= int(tier["from"]):
            amount = Decimal(str(tier["amount"]))
    return amount


def _value(rule: RewardRule, amount: Decimal, referral: Referral,
           purchase: Purchase | None) -> tuple[str, Decimal | None, str]:
    """(kind, amount, currency); amount None when a percentage has nothing to apply to."""
    if rule.kind == "fixed":
        return "fixed", amount.quantize(CENT), rule.currency
    if rule.side == "give":
        # For the referee a percentage is a discount: its worth is known only at checkout.
        return "percent", amount.quantize(CENT), rule.currency
    if purchase is not None:
        base, currency = Decimal(purchase.amount), purchase.currency
    else:
        lead = db.session.scalar(select(Lead).where(Lead.referral_id == referral.id))
        base = lead.amount if lead is not None and lead.amount is not None \
            else referral.deal_value
        currency = rule.currency
    if base is None:
        return "fixed", None, currency
    return "fixed", (Decimal(base) * amount / 100).quantize(CENT, ROUND_HALF_UP), currency


def _build(rule: RewardRule, referral: Referral, at: datetime, purchase: Purchase | None,
           holds: list[str]) -> Reward:
    earned = earned_this_year(rule, referral.referrer_id, at)
    kind, amount, currency = _value(rule, tier_amount(rule, earned + 1), referral, purchase)
    reasons = list(holds) + (["no_deal_value"] if amount is None else [])
    reward = Reward(rule_id=rule.id, referral_id=referral.id, program_id=referral.program_id,
                    referrer_id=referral.referrer_id, side=rule.side, trigger=rule.trigger,
                    kind=kind, amount=amount if amount is not None else Decimal("0.00"),
                    currency=currency, created_at=at, hold_reasons=[],
                    issuable_at=at + timedelta(days=rule.hold_days or 0))
    if rule.cap_per_referrer is not None and referral.referrer_id is not None \
            and earned >= rule.cap_per_referrer:
        # Created anyway, so the referrer sees the reward they would have earned and why not.
        reward.status, reward.reason = "rejected", "cap_reached"
    elif reasons:
        reward.status, reward.hold_reasons = "held", reasons
    elif rule.requires_approval:
        reward.status = "pending"
    else:
        reward.status, reward.approved_at = "approved", utcnow()
    return reward


def rewards_of_referral(referral_id: int) -> list[Reward]:
    return list(db.session.scalars(select(Reward).where(Reward.referral_id == referral_id)
                                   .order_by(Reward.created_at, Reward.id)))
