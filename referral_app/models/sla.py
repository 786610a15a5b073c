"""SLA clocks: one obligation on one lead, with its due time fixed at start."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from referral_app.extensions import db
from referral_app.models.base import UTCDateTime, utcnow

CLOCK_TYPES = ("first_attempt", "decision", "attempt_limit")
CLOCK_STATUSES = ("running", "met", "breached", "cancelled")
UNMEASURED = "kind = 'first_attempt' AND met_at IS NOT NULL AND business_seconds IS NULL"
UNWARNED = "status = 'running' AND warned_at IS NULL"


class SlaClock(db.Model):
    __tablename__ = "sla_clocks"
    __table_args__ = (
        UniqueConstraint("lead_id", "kind"),
        # The sweep: every running clock past its due time, in one range scan.
        Index("ix_sla_clocks_status_due", "status", "due_at"),
        # Managers' "breaches of the day".
        Index("ix_sla_clocks_breached_at", "breached_at"),
        # Reports: the clocks that started in a period (per month, by kind).
        Index("ix_sla_clocks_started_kind", "started_at", "kind"),
        # Breaches whose handling job was lost (Redis down): the sweep re-enqueues them.
        Index("ix_sla_clocks_unhandled", "breached_at",
              postgresql_where=text("status = 'breached' AND handled_at IS NULL"),
              sqlite_where=text("status = 'breached' AND handled_at IS NULL")),
        # Reports: first attempts met before business_seconds existed (measured the slow way).
        Index("ix_sla_clocks_unmeasured", "started_at",
              postgresql_where=text(UNMEASURED), sqlite_where=text(UNMEASURED)),
        # The minute sweep's early warnings: running clocks past their warning point.
        Index("ix_sla_clocks_warn", "warn_at",
              postgresql_where=text(UNWARNED), sqlite_where=text(UNWARNED)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"))
    kind: Mapped[str] = mapped_column(String(20))
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="running")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the early warning is due (80% of the allowed time), fixed at start like due_at;
    # NULL on clocks started before 0003, whose warning was a scheduled job.
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # breach notified/acted on
    # First attempt: started_at → met_at in open seconds of the agreement's calendar (the
    # reports' time to first attempt), stored once when met.
    business_seconds: Mapped[int | None] = mapped_column(Integer)

    lead = relationship("Lead", back_populates="clocks")
