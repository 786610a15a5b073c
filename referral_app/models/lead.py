"""Leads, their stage events and the attempts sales logs on them."""
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, String, event, inspect, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from referral_app.extensions import db
from referral_app.models.base import MONEY, JSONType, UTCDateTime, lowered, utcnow
from referral_app.models.purchase import Purchase
from referral_app.models.reward import Reward
from referral_app.models.sla import SlaClock

STAGES = ("new", "mql", "sql", "opportunity", "won", "lost", "rejected", "recycled")
OPEN_STAGES = ("new", "mql", "sql", "opportunity")
CLOSED_STAGES = ("won", "lost", "rejected", "recycled")
ATTEMPT_CHANNELS = ("call", "email", "meeting", "social")
ATTEMPT_OUTCOMES = ("connected", "no_answer", "voicemail", "bounced", "wrong_contact")
# Lead.stages_entered: one bit per stage the lead ever had an event into.
STAGE_BITS = {stage: 1 << n for n, stage in enumerate(STAGES)}
CLOSINGS = "kind = 'stage' AND to_stage IN ('rejected', 'lost')"
# A lead marked touched this recently is not marked again (one UPDATE less per flush). Safe
# while it is shorter than reports.rollups.IN_FLIGHT, the margin readers look back by.
TOUCH_AGAIN_AFTER = timedelta(minutes=1)


class Lead(db.Model):
    __tablename__ = "leads"
    __table_args__ = (
        # Reports: leads per program over time.
        Index("ix_leads_program_received", "program_id", "received_at"),
        # The queue page: one rep's open leads already in urgency order, read with a LIMIT
        # (and any read of a rep's open leads: its leading columns are owner and is_open).
        Index("ix_leads_queue", "owner_id", "is_open", "sla_due_at", "id"),
        # The portal: how many of a referrer's leads became customers, without visiting each.
        Index("ix_leads_referrer_stage", "referrer_id", "stage"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id"), unique=True)
    # The referral's referrer, copied when the lead is inserted (_copy_referrer), so the
    # referrer reports group the leads without joining a million referrals.
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    product: Mapped[str] = mapped_column(String(100), index=True)
    agreement_id: Mapped[int | None] = mapped_column(ForeignKey("agreements.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    stage: Mapped[str] = mapped_column(String(20), default="new", index=True)
    is_open: Mapped[bool] = mapped_column(default=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    # Set to the email while the lead is open, NULL once closed: a unique column that
    # makes "one open lead per email" a database constraint, safe under concurrency.
    open_email: Mapped[str | None] = mapped_column(String(254), unique=True)

    _lowered = lowered("email", "open_email")

    score: Mapped[int] = mapped_column(default=0)
    score_rules: Mapped[list] = mapped_column(JSONType, default=list)
    sql_checklist: Mapped[list] = mapped_column(JSONType, default=list)
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    close_reason: Mapped[str | None] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Earliest due time among the lead's unmet SLA clocks (NULL when none): the queue's
    # urgency, kept by services.sla so the queue is an index scan, not an aggregate.
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Every stage the lead has had an event into (STAGE_BITS, set once, never cleared), kept
    # by _mark_stages below: the funnel reads leads alone instead of all their events.
    stages_entered: Mapped[int] = mapped_column(default=0, server_default="0")
    # When something the report days count about this lead last changed (an event, a clock,
    # a reward or purchase written): rolled-up days it touched are read live (_mark_stages).
    touched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    referral = relationship("Referral", back_populates="lead")
    program = relationship("Program")
    owner = relationship("User", foreign_keys=[owner_id])
    agreement = relationship("Agreement")
    events: Mapped[list["LeadEvent"]] = relationship(back_populates="lead", order_by="LeadEvent.at")
    attempts: Mapped[list["Attempt"]] = relationship(back_populates="lead", order_by="Attempt.at")
    clocks = relationship("SlaClock", back_populates="lead", order_by="SlaClock.id")


class LeadEvent(db.Model):
    """One change of stage (or owner): who, when, from, to."""

    __tablename__ = "lead_events"
    __table_args__ = (
        Index("ix_lead_events_to_at", "to_stage", "at"),
        # Reports: how far each lead got (index-only per lead) and "later went to sql"; any
        # read of one lead's events (its leading column is the lead).
        Index("ix_lead_events_lead_stage_at", "lead_id", "to_stage", "at"),
        # Rejection reasons: the closing events alone, read index-only with their lead and reason.
        Index("ix_lead_events_closings", "lead_id", postgresql_include=["to_stage", "reason"],
              postgresql_where=text(CLOSINGS), sqlite_where=text(CLOSINGS)),
        # Recovery: the few events whose follow-up job has not run (yet).
        Index("ix_lead_events_unprocessed", "at",
              postgresql_where=text("processed_at IS NULL"), sqlite_where=text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"))  # ix_lead_events_lead_stage_at
    kind: Mapped[str] = mapped_column(String(20), default="stage")  # stage | assign
    from_stage: Mapped[str | None] = mapped_column(String(20))
    to_stage: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str | None] = mapped_column()
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # follow-ups done

    lead: Mapped[Lead] = relationship(back_populates="events")
    actor = relationship("User")


class Attempt(db.Model):
    __tablename__ = "attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lead: Mapped[Lead] = relationship(back_populates="attempts")
    user = relationship("User")


@event.listens_for(Lead, "before_insert")
def _copy_referrer(mapper, connection, lead: Lead) -> None:
    if lead.referrer_id is not None or lead.referral_id is None:
        return
    referral = lead.__dict__.get("referral")
    if referral is not None:
        lead.referrer_id = referral.referrer_id
    else:
        from referral_app.models.referral import Referral

        lead.referrer_id = connection.scalar(
            select(Referral.referrer_id).where(Referral.id == lead.referral_id))


@event.listens_for(Session, "before_flush")
def _mark_stages(session, flush_context, instances) -> None:
    """Record each new event's stage on its lead, and mark the lead touched when an event, a
    clock, a reward or a purchase of it is written, in the same flush (the rolled-up report
    days it counts in are then read live until recomputed)."""
    bits = stage_marks(session, [obj for obj in session.new if isinstance(obj, LeadEvent)],
                       [obj for obj in list(session.new) + list(session.dirty)
                        if isinstance(obj, SlaClock)
                        and (obj in session.new or session.is_modified(obj))])
    now = utcnow()
    # A reward or purchase written changes its lead's funnel money: touch it by referral
    # (a purchase matched to another referral touches the one it left too).
    referrals = set()
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Reward | Purchase) and (obj in session.new or session.is_modified(obj)):
            history = inspect(obj).attrs.referral_id.history
            referrals |= {r for r in (obj.referral_id, *history.deleted) if r is not None}
    if referrals:
        session.connection().execute(update(Lead.__table__).where(
            Lead.__table__.c.referral_id.in_(sorted(referrals))).values(touched_at=now))
    for lead, add in bits.values():
        if lead in session.new:
            mark_new_lead(lead, add, now)
            continue
        bits_missing = (lead.__dict__.get("stages_entered", 0) or 0) & add != add
        touched = lead.__dict__.get("touched_at")
        if not bits_missing and touched is not None and now - touched < TOUCH_AGAIN_AFTER:
            continue  # marked moments ago (e.g. by this request's first flush)
        if not session.is_modified(lead):
            # Only bookkeeping changes: keep updated_at (it means "edited", not "reported").
            lead.updated_at = Lead.updated_at
        lead.touched_at = now
        if bits_missing:
            # In SQL, so a concurrent writer's bits are kept too.
            lead.stages_entered = Lead.stages_entered.bitwise_or(add)


def stage_marks(session, events, clocks) -> dict[int, tuple[Lead, int]]:
    """id(lead) -> (lead, the stage bits of its `events`) for every lead that these new
    events and new or changed clocks mark."""
    bits: dict[int, tuple[Lead, int]] = {}
    for obj in events:
        lead = _lead_of(session, obj)
        if lead is not None:
            _, seen = bits.get(id(lead), (lead, 0))
            bits[id(lead)] = (lead, seen | STAGE_BITS.get(obj.to_stage, 0))
    for obj in clocks:
        lead = _lead_of(session, obj)
        if lead is not None and id(lead) not in bits:
            bits[id(lead)] = (lead, 0)
    return bits


def mark_new_lead(lead: Lead, add: int, now) -> None:
    """A lead written for the first time: its stage bits, and touched now."""
    lead.stages_entered = (lead.stages_entered or 0) | add
    lead.touched_at = now


def _lead_of(session, obj) -> Lead | None:
    lead = obj.__dict__.get("lead")  # pending objects do not lazy-load
    if lead is None and obj.lead_id is not None:
        with session.no_autoflush:
            lead = session.get(Lead, obj.lead_id)
    return lead
