"""Purchases reported by billing, matched to referrals for conversion."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral_app.extensions import db
from referral_app.models.base import MONEY, UTCDateTime, lowered, utcnow

MATCH_METHODS = ("code", "email", "domain", "manual")
LIVE = "referral_id IS NOT NULL AND refunded_at IS NULL"


class Purchase(db.Model):
    __tablename__ = "purchases"
    __table_args__ = (
        # The funnel's purchases: those matched and not refunded, read index-only.
        Index("ix_purchases_live", "referral_id", postgresql_include=["amount"],
              postgresql_where=text(LIVE), sqlite_where=text(LIVE)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str] = mapped_column(String(254), index=True)

    _lowered = lowered("email")

    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    purchased_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    referral_code: Mapped[str | None] = mapped_column(String(64))  # a referral or coupon code
    referral_id: Mapped[int | None] = mapped_column(ForeignKey("referrals.id"), index=True)
    matched_by: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="unmatched")  # unmatched | matched
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    referral = relationship("Referral")
