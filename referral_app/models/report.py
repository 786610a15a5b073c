"""What reports keep: daily snapshots per program, monthly SLA results, SLA days, interlock notes."""
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, LargeBinary, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from referral_app.extensions import db
from referral_app.models.base import MONEY, JSONType, UTCDateTime, utcnow


class DailySnapshot(db.Model):
    __tablename__ = "daily_snapshots"
    __table_args__ = (UniqueConstraint("program_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    day: Mapped[date] = mapped_column(Date, index=True)
    referrals: Mapped[int] = mapped_column(default=0)
    stages: Mapped[dict] = mapped_column(JSONType, default=dict)  # {"mql": 3, "sql": 1, ...}
    purchases: Mapped[int] = mapped_column(default=0)
    revenue: Mapped[Decimal] = mapped_column(MONEY, default=0)
    rewards: Mapped[dict] = mapped_column(JSONType, default=dict)  # {"issued": {"n":1,"cost":"100.00"}}
    reward_cost: Mapped[Decimal] = mapped_column(MONEY, default=0)
    # Of the referrals made that day, how many have a matched purchase so far, and the share.
    converted: Mapped[int] = mapped_column(default=0)
    conversion: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MonthlyAttainment(db.Model):
    """The marketing side of one agreement for one month: delivered vs target, and the result."""

    __tablename__ = "monthly_attainments"
    __table_args__ = (UniqueConstraint("product", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product: Mapped[str] = mapped_column(String(100))
    month: Mapped[date] = mapped_column(Date)  # first day of the month, agreement's zone
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id"))
    mqls: Mapped[int] = mapped_column(default=0)
    target: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    result: Mapped[str | None] = mapped_column(String(10))  # met | missed, once the month closed
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlaDay(db.Model):
    """One product's SLA figures for one settled local day (services.reports.rollups).

    Days are dates in the product's agreement zone (`zone`; rows of another zone are not
    read). Every figure is a sum over the day's rows, so any run of whole days adds up.
    """

    __tablename__ = "sla_days"
    __table_args__ = (UniqueConstraint("product", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product: Mapped[str] = mapped_column(String(100))
    zone: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date, index=True)
    # Marketing side: qualifications (stage events into mql) that day, and of those, how many
    # sales accepted (a later sql event) or rejected.
    mqls: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    # First-attempt clocks started that day (not cancelled); `durations` packs the business
    # seconds to first attempt of those attempted, sorted; `bands` packs clocks and won per
    # speed band (sla_measures.SPEED_EDGES, then "not attempted"). Both are int32 arrays
    # (rollups.pack): thousands of days are read per report, and JSON decoding was the cost.
    first_attempts: Mapped[int] = mapped_column(default=0)
    durations: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    bands: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    # Clocks, met, breached per kind (rollups.CLOCK_KINDS), the sums of its SlaDayClock rows.
    clocks: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SlaDayClock(db.Model):
    """Clock outcomes of one product, day, kind and owner (owner 0: none), beside SlaDay."""

    __tablename__ = "sla_day_clocks"
    __table_args__ = (UniqueConstraint("product", "day", "kind", "owner_id"),
                      Index("ix_sla_day_clocks_day", "day"))

    id: Mapped[int] = mapped_column(primary_key=True)
    product: Mapped[str] = mapped_column(String(100))
    zone: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))
    owner_id: Mapped[int] = mapped_column(default=0)
    clocks: Mapped[int] = mapped_column(default=0)
    met: Mapped[int] = mapped_column(default=0)
    breached: Mapped[int] = mapped_column(default=0)


class CohortDay(db.Model):
    """The funnel of the leads received on one local day, per program or per rep
    (services.reports.cohort_days): how far they got today, what they earned and cost.

    `grain` is "program" (ident: the program) or "owner" (ident: the rep, 0 for none); each
    grain counts every lead once; a "day" row (product "", zeros) marks the day as rolled
    up. Rows are kept for every zone an agreement uses.
    """

    __tablename__ = "cohort_days"
    __table_args__ = (UniqueConstraint("zone", "day", "product", "grain", "ident"),
                      Index("ix_cohort_days_zone_day", "zone", "day"))

    id: Mapped[int] = mapped_column(primary_key=True)
    zone: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    product: Mapped[str] = mapped_column(String(100))
    grain: Mapped[str] = mapped_column(String(10))
    ident: Mapped[int] = mapped_column(default=0)
    leads: Mapped[int] = mapped_column(default=0)
    # Leads that reached each stage of the main path (common.DEPTH: an event into it or a
    # later one), and that entered each stage (an event into exactly it), as StageCounts.
    reached_mql: Mapped[int] = mapped_column(default=0)
    reached_sql: Mapped[int] = mapped_column(default=0)
    reached_opportunity: Mapped[int] = mapped_column(default=0)
    reached_won: Mapped[int] = mapped_column(default=0)
    entered_mql: Mapped[int] = mapped_column(default=0)
    entered_sql: Mapped[int] = mapped_column(default=0)
    entered_opportunity: Mapped[int] = mapped_column(default=0)
    entered_won: Mapped[int] = mapped_column(default=0)
    entered_lost: Mapped[int] = mapped_column(default=0)
    entered_rejected: Mapped[int] = mapped_column(default=0)
    entered_recycled: Mapped[int] = mapped_column(default=0)
    won_value: Mapped[Decimal] = mapped_column(MONEY, default=0)
    purchases: Mapped[int] = mapped_column(default=0)
    revenue: Mapped[Decimal] = mapped_column(MONEY, default=0)
    reward_cost: Mapped[Decimal] = mapped_column(MONEY, default=0)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ClosingDay(db.Model):
    """Rejections and losses of the leads received on one local day, per program and reason."""

    __tablename__ = "closing_days"
    __table_args__ = (UniqueConstraint("zone", "day", "program_id", "kind", "reason"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    zone: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date, index=True)
    product: Mapped[str] = mapped_column(String(100))
    program_id: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column()
    n: Mapped[int] = mapped_column(default=0)


class InterlockNote(db.Model):
    """Notes the team writes into the interlock pack during the review meeting."""

    __tablename__ = "interlock_notes"
    __table_args__ = (UniqueConstraint("period_from", "period_to"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(default="")
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AuditEntry(db.Model):
    """Privacy and admin actions (exports, erasures, token changes), kept for accountability."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(254), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
