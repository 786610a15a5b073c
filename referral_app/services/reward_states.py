"""Reward states: the allowed moves, each recorded as a RewardEvent, and their follow-ups."""
from datetime import datetime

from sqlalchemy import select

from referral_app.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from referral_app.extensions import db
from referral_app.models import Referral, Reward, RewardEvent
from referral_app.models.base import utcnow
from referral_app.services import coupons, webhooks
from referral_app.services.currencies import format_amount, format_number
from referral_app.services.notify import notify

# from-status -> the statuses it may move to. `void` is the clawback of an approved or
# issued reward (a refund inside the hold period, or marketing's decision).
TRANSITIONS: dict[str, set[str]] = {
    "pending": {"approved", "rejected"},
    "held": {"approved", "rejected"},
    "approved": {"issued", "void"},
    "issued": {"void"},
    "rejected": set(),
    "void": set(),
}


def locked(reward_id: int) -> Reward:
    """The reward, re-read under a row lock: two reviewers cannot both move it."""
    reward = db.session.scalar(select(Reward).where(Reward.id == reward_id).with_for_update()
                               .execution_options(populate_existing=True))
    if reward is None:
        raise NotFound("No such reward.")
    return reward


def move(reward_id: int, to_status: str, actor_id: int | None = None,
         reason: str | None = None, at: datetime | None = None) -> Reward:
    """Move a reward (or refuse with 409 invalid_transition) and record who and when."""
    reward = locked(reward_id)
    at = at or utcnow()
    if to_status not in TRANSITIONS.get(reward.status, set()):
        raise InvalidTransition(f"A reward that is {reward.status} cannot become {to_status}.",
                                fields={"status": [reward.status]})
    reason = (reason or "").strip()[:500] or None
    if to_status in ("rejected", "void") and not reason:
        raise ValidationFailed("Give a reason.", {"reason": ["Say why, e.g. duplicate or refunded."]})
    if to_status == "issued" and reward.issuable_at is not None and at < reward.issuable_at:
        raise Conflict(f"This reward is in its hold period until {reward.issuable_at:%Y-%m-%d %H:%M} UTC.",
                       code="hold_period")
    db.session.add(RewardEvent(reward_id=reward.id, from_status=reward.status,
                               to_status=to_status, actor_id=actor_id, reason=reason, at=at))
    reward.status = to_status
    if to_status in ("rejected", "void"):
        reward.reason = reason
    if to_status == "approved":
        reward.approved_at = at
    if to_status == "issued":
        reward.issued_at = at
        if reward.side == "give":
            coupons.assign(reward)
    db.session.flush()
    if to_status == "approved":
        after_approval(reward)
    elif to_status == "issued":
        after_issue(reward)
    return reward


def approve(reward_id: int, actor_id: int | None = None) -> Reward:
    return move(reward_id, "approved", actor_id)


def reject(reward_id: int, reason: str, actor_id: int | None = None) -> Reward:
    return move(reward_id, "rejected", actor_id, reason)


def issue(reward_id: int, actor_id: int | None = None, at: datetime | None = None) -> Reward:
    return move(reward_id, "issued", actor_id, at=at)


def void(reward_id: int, reason: str, actor_id: int | None = None) -> Reward:
    return move(reward_id, "void", actor_id, reason)


def value_words(reward: Reward) -> str:
    if reward.kind == "percent":
        return f"{format_number(reward.amount)}% off"
    return format_amount(reward.amount, reward.currency)


def after_approval(reward: Reward) -> None:
    """Tell the referrer (in the portal and by e-mail) and the subscribed systems."""
    referral = db.session.get(Referral, reward.referral_id)
    if reward.side == "get" and reward.referrer_id is not None:
        notify("reward_approved", f"Your reward of {value_words(reward)} was approved",
               f"Thanks for referring {referral.referee_name}: your reward of "
               f"{value_words(reward)} was approved and will be issued "
               f"{'soon' if not reward.issuable_at else f'from {reward.issuable_at:%d %b %Y}'}.",
               user_id=reward.referrer_id, data={"reward_id": reward.id},
               dedupe_key=f"reward:{reward.id}:approved")
    webhooks.publish("reward.approved", webhooks.reward_payload(reward),
                     key=f"reward.approved:{reward.id}")


def after_issue(reward: Reward) -> None:
    """Give rewards go to the referee as a coupon; get rewards tell the referrer."""
    referral = db.session.get(Referral, reward.referral_id)
    if reward.side == "give":
        if referral.consent_withdrawn_at is None:
            notify("coupon", f"Your {value_words(reward)} coupon: {reward.coupon_code}",
                   f"Hi {referral.referee_name},\n\nAs a referred friend you get "
                   f"{value_words(reward)}. Use this single-use code at checkout:\n\n"
                   f"    {reward.coupon_code}\n",
                   email=referral.referee_email, data={"reward_id": reward.id},
                   dedupe_key=f"reward:{reward.id}:coupon")
        if reward.referrer_id is not None:
            notify("reward_issued", f"{referral.referee_name}'s coupon was issued",
                   f"The {value_words(reward)} coupon for {referral.referee_name} was issued: "
                   f"{reward.coupon_code}.", user_id=reward.referrer_id,
                   data={"reward_id": reward.id}, dedupe_key=f"reward:{reward.id}:issued")
    elif reward.referrer_id is not None:
        notify("reward_issued", f"Your reward of {value_words(reward)} was issued",
               f"Your reward of {value_words(reward)} for referring {referral.referee_name} "
               f"was issued; it is included in the next payout to you.",
               user_id=reward.referrer_id, data={"reward_id": reward.id},
               dedupe_key=f"reward:{reward.id}:issued")
    webhooks.publish("reward.issued", webhooks.reward_payload(reward),
                     key=f"reward.issued:{reward.id}")


def due_ids(now: datetime, limit: int = 500) -> list[int]:
    """Approved rewards whose hold period is over, locked (others' locks skipped)."""
    return list(db.session.scalars(
        select(Reward.id).where(Reward.status == "approved",
                                (Reward.issuable_at.is_(None)) | (Reward.issuable_at <= now))
        .order_by(Reward.issuable_at, Reward.id).limit(limit)
        .with_for_update(skip_locked=True)))
