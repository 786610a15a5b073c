"""Referrals, refused attempts kept for review, idempotency records and CSV imports."""
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral_app.extensions import db
from referral_app.models.base import MONEY, JSONType, UTCDateTime, lowered, utcnow

REFERRAL_SOURCES = ("portal", "landing", "api", "csv")
REFERRAL_STATUSES = ("submitted", "held")


class Referral(db.Model):
    __tablename__ = "referrals"
    __table_args__ = (
        # A referrer's (or an address's) recent referrals: the velocity holds at every intake
        # and the portal's list, whatever the rate of referrals from everyone else.
        Index("ix_referrals_referrer_created", "referrer_id", "created_at"),
        Index("ix_referrals_ip_created", "ip", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    code_id: Mapped[int | None] = mapped_column(ForeignKey("referral_codes.id"), index=True)
    source: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), default="submitted")
    hold_reasons: Mapped[list] = mapped_column(JSONType, default=list)
    referee_name: Mapped[str] = mapped_column(String(200))
    referee_email: Mapped[str] = mapped_column(String(254), index=True)

    _lowered = lowered("referee_email")

    referee_company: Mapped[str | None] = mapped_column(String(200))
    referee_phone: Mapped[str | None] = mapped_column(String(40))
    referee_title: Mapped[str | None] = mapped_column(String(200))
    referee_country: Mapped[str | None] = mapped_column(String(2))
    company_size: Mapped[int | None] = mapped_column()
    deal_value: Mapped[Decimal | None] = mapped_column(MONEY)
    note: Mapped[str] = mapped_column(default="")
    consent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consent_withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(45))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Set by the follow-up job (rewards, webhook); NULL means its job may have been lost.
    followed_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    program = relationship("Program")
    referrer = relationship("User")
    code = relationship("ReferralCode")
    lead = relationship("Lead", back_populates="referral", uselist=False)
    # Read-only view of the reward ledger, which the rewards capability writes.
    rewards = relationship("Reward", viewonly=True, order_by="Reward.id")


class RefusedReferral(db.Model):
    """A refused submission, never lost: marketing reviews these."""

    __tablename__ = "refused_referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"), index=True)
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(30))  # the error code given to the caller
    email: Mapped[str | None] = mapped_column(String(254))
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    ip: Mapped[str | None] = mapped_column(String(45))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class IdempotencyRecord(db.Model):
    """The first answer to a write sent with an Idempotency-Key, replayed for 24 h."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column()
    response: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class CsvImport(db.Model):
    """One CSV upload by marketing, imported by an RQ job with a per-row report."""

    __tablename__ = "csv_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="referrals")  # referrals | purchases
    program_id: Mapped[int | None] = mapped_column(ForeignKey("programs.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(300))
    stored_path: Mapped[str] = mapped_column(String(500))
    mapping: Mapped[dict] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # mapping|queued|running|done|failed
    total_rows: Mapped[int] = mapped_column(default=0)
    processed: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    invalid: Mapped[int] = mapped_column(default=0)
    report_path: Mapped[str | None] = mapped_column(String(500))
    error: Mapped[str | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    program = relationship("Program")
