"""The reward ledger: rewards created by rules, their events and payout batches."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral_app.extensions import db
from referral_app.models.base import MONEY, JSONType, UTCDateTime, utcnow

REWARD_STATUSES = ("pending", "approved", "issued", "held", "rejected", "void")
# Rewards that cost money (reports.common.COSTED_REWARD_STATUSES, fixed amounts).
COSTED = "status IN ('approved', 'issued') AND kind = 'fixed'"


class Reward(db.Model):
    __tablename__ = "rewards"
    __table_args__ = (
        # Exactly once per (rule, referral): a retried job cannot double-pay.
        UniqueConstraint("rule_id", "referral_id"),
        Index("ix_rewards_status_created", "status", "created_at"),
        # A payout batch's rows in id order (its CSV, its totals): an index range, not a scan.
        Index("ix_rewards_payout_batch_id", "payout_batch_id", "id"),
        # The funnel's reward cost: the rewards that cost money, read index-only.
        Index("ix_rewards_costed", "referral_id", postgresql_include=["amount"],
              postgresql_where=text(COSTED), sqlite_where=text(COSTED)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("reward_rules.id"))
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), index=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    side: Mapped[str] = mapped_column(String(10))
    trigger: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    # "fixed": amount is money; "percent": a give-side discount of `amount` percent whose
    # value is unknown until the referee buys (so it is not counted as cost).
    kind: Mapped[str] = mapped_column(String(10), default="fixed")
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str | None] = mapped_column()
    hold_reasons: Mapped[list] = mapped_column(JSONType, default=list)
    coupon_code: Mapped[str | None] = mapped_column(String(64), unique=True)
    payout_batch_id: Mapped[int | None] = mapped_column(ForeignKey("payout_batches.id"))
    issuable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # end of hold_days
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    rule = relationship("RewardRule")
    referral = relationship("Referral")
    referrer = relationship("User")
    events: Mapped[list["RewardEvent"]] = relationship(back_populates="reward")


class RewardEvent(db.Model):
    __tablename__ = "reward_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(10))
    to_status: Mapped[str] = mapped_column(String(10))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str | None] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    reward: Mapped[Reward] = relationship(back_populates="events")


class PayoutBatch(db.Model):
    """The referrer payouts issued in one period, exported as CSV for finance."""

    __tablename__ = "payout_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
