"""The SLA agreement between marketing and sales: versioned per product, signed by both."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral_app.extensions import db
from referral_app.models.base import UTCDateTime, utcnow

AGREEMENT_STATUSES = ("draft", "in_force", "superseded")
CLOCK_KINDS = ("business", "calendar")


class Agreement(db.Model):
    __tablename__ = "agreements"
    __table_args__ = (UniqueConstraint("product", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    calendar_id: Mapped[int] = mapped_column(ForeignKey("calendars.id"))
    # Sales side
    first_attempt_hours: Mapped[Decimal] = mapped_column(Numeric(8, 2), default=5)
    first_attempt_clock: Mapped[str] = mapped_column(String(10), default="business")
    max_attempts: Mapped[int] = mapped_column(default=4)
    attempt_window_days: Mapped[int] = mapped_column(default=16)
    decision_hours: Mapped[Decimal] = mapped_column(Numeric(8, 2), default=8)
    auto_reassign: Mapped[bool] = mapped_column(default=False)
    # Marketing side
    monthly_qualified_leads: Mapped[int] = mapped_column(default=0)
    min_acceptance_rate: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0.6"))
    review_cadence_days: Mapped[int] = mapped_column(default=14)
    notes: Mapped[str] = mapped_column(default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    calendar = relationship("Calendar")
    signoffs: Mapped[list["AgreementSignoff"]] = relationship(back_populates="agreement")


class AgreementSignoff(db.Model):
    """One side's signature on one version: marketing and sales_manager both sign."""

    __tablename__ = "agreement_signoffs"
    __table_args__ = (UniqueConstraint("agreement_id", "side"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ForeignKey("agreements.id"))
    side: Mapped[str] = mapped_column(String(20))  # marketing | sales
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    agreement: Mapped[Agreement] = relationship(back_populates="signoffs")
