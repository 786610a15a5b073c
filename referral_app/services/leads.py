"""What sales does to a lead: attempts, accept, reject, opportunity, close, recycle, reassign."""
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import case, func, select

from referral_app.errors import AttemptLimit, InvalidTransition, NotFound, ValidationFailed
from referral_app.extensions import db
from referral_app.models import Attempt, Lead, LeadEvent, MqlDefinition, User
from referral_app.models.base import money, utcnow
from referral_app.models.lead import ATTEMPT_CHANNELS, ATTEMPT_OUTCOMES
from referral_app.services import assignment, sla
from referral_app.services.stages import can_move, change_stage

REP_ROLES = ("sales", "sales_manager")


def lock(lead: Lead) -> Lead:
    """Re-read the lead under a row lock: two requests on one lead run one after the other."""
    return db.session.scalar(select(Lead).where(Lead.id == lead.id).with_for_update()
                             .execution_options(populate_existing=True))


def attempts_in_window(lead: Lead, window_start: datetime | None) -> int:
    query = select(func.count(Attempt.id)).where(Attempt.lead_id == lead.id)
    if window_start is not None:
        query = query.where(Attempt.at >= window_start)
    return db.session.scalar(query) or 0


def attempt_stats(lead: Lead) -> tuple[int, bool]:
    """(attempts logged, whether one of them connected), in one statement."""
    count, connected = db.session.execute(
        select(func.count(Attempt.id),
               func.coalesce(func.max(case((Attempt.outcome == "connected", 1), else_=0)), 0))
        .where(Attempt.lead_id == lead.id)).one()
    return count or 0, bool(connected)


def why_no_more_attempts(lead: Lead, at: datetime) -> str | None:
    """The sentence refusing a further attempt, or None when one may be logged at `at`."""
    if lead.stage == "recycled":
        event = db.session.scalar(select(LeadEvent).where(
            LeadEvent.lead_id == lead.id, LeadEvent.to_stage == "recycled")
            .order_by(LeadEvent.at.desc(), LeadEvent.id.desc()).limit(1))
        because = f" ({event.reason})" if event is not None and event.reason else ""
        return f"This lead went back to marketing nurture{because}; no more attempts can be logged."
    window = sla.clocks_of(lead).get("attempt_limit")
    agreement = lead.agreement
    if window is None or agreement is None or window.met_at is not None:
        return None  # no window yet, or a connected outcome ended the limit
    if at > window.due_at:
        return (f"The {agreement.attempt_window_days}-day attempt window ended on "
                f"{window.due_at:%Y-%m-%d %H:%M} UTC without a connected outcome; "
                "the lead goes back to marketing nurture.")
    if attempts_in_window(lead, window.started_at) >= agreement.max_attempts:
        return (f"All {agreement.max_attempts} attempts of the "
                f"{agreement.attempt_window_days}-day window were used without a connected "
                "outcome; the lead goes back to marketing nurture.")
    return None


def log_attempt(lead: Lead, actor_id: int, channel: str, outcome: str, note: str = "",
                at: datetime | None = None) -> Attempt:
    """Record one attempt by a person and apply the SLA: first attempt, window, decision.

    Refuses with 409 attempt_limit past the limit; recycles the lead when this attempt uses
    the last one without a connected outcome.
    """
    at = at or utcnow()
    errors = {}
    if channel not in ATTEMPT_CHANNELS:
        errors["channel"] = [f"Choose one of: {', '.join(ATTEMPT_CHANNELS)}."]
    if outcome not in ATTEMPT_OUTCOMES:
        errors["outcome"] = [f"Choose one of: {', '.join(ATTEMPT_OUTCOMES)}."]
    if errors:
        raise ValidationFailed("The attempt is not valid.", fields=errors)
    lead = lock(lead)
    refusal = why_no_more_attempts(lead, at)
    if refusal:
        raise AttemptLimit(refusal)
    if not lead.is_open:
        raise InvalidTransition(f"A lead in stage '{lead.stage}' is closed; attempts can no "
                                "longer be logged.", fields={"stage": [lead.stage]})
    attempt = Attempt(lead_id=lead.id, user_id=actor_id, channel=channel, outcome=outcome,
                      note=(note or "").strip(), at=at)
    db.session.add(attempt)
    db.session.flush()
    clocks = sla.clocks_of(lead, lock=True)
    if lead.first_attempt_at is None:
        lead.first_attempt_at = at
    sla.satisfy(clocks.get("first_attempt"), at)
    window = clocks.get("attempt_limit") or sla.start_clock(lead, "attempt_limit", at)
    if outcome == "connected":
        sla.satisfy(window, at)
        if lead.stage in ("new", "mql"):
            sla.start_clock(lead, "decision", at)
    elif window is not None and window.met_at is None and lead.agreement is not None:
        used = attempts_in_window(lead, window.started_at)
        if used >= lead.agreement.max_attempts and can_move(lead, "recycled"):
            window.status, window.met_at = "met", at  # the rep did every attempt allowed
            recycle(lead, actor_id, attempts_used_reason(used, lead.agreement), at=at)
    sla.refresh_due(lead)
    return attempt


def attempts_used_reason(used: int, agreement) -> str:
    """Why the last attempt allowed recycled a lead."""
    return f"{used} attempts within {agreement.attempt_window_days} days without a connected outcome"


def accept(lead: Lead, actor_id: int, checklist=(), at: datetime | None = None) -> LeadEvent:
    """Sales accepts the lead (stage sql), keeping the SQL checklist items it ticked."""
    at = at or utcnow()
    lead = lock(lead)
    allowed = sql_checklist(lead.product)
    ticked = [item for item in checklist or () if item]
    unknown = [item for item in ticked if item not in allowed]
    if unknown:
        raise ValidationFailed("Tick only items of the product's SQL checklist.",
                               fields={"checklist": [f"Not on the checklist: {i}"
                                                     for i in unknown]})
    event = change_stage(lead, "sql", actor_id=actor_id, at=at, reason="accepted by sales",
                         data={"checklist": ticked})
    lead.sql_checklist = [item for item in allowed if item in ticked]
    sla.satisfy(sla.clocks_of(lead, lock=True).get("decision"), at)
    sla.refresh_due(lead)
    return event


def reject(lead: Lead, actor_id: int, reason: str, note: str = "",
           at: datetime | None = None) -> LeadEvent:
    """Sales declines the lead (stage rejected) with a reason."""
    reason, note = (reason or "").strip(), (note or "").strip()
    if not reason:
        raise ValidationFailed("Give a reason for rejecting the lead.",
                               fields={"reason": ["A reason is required."]})
    at = at or utcnow()
    lead = lock(lead)
    # The decision is met first; change_stage then cancels whatever else still runs.
    sla.satisfy(sla.clocks_of(lead, lock=True).get("decision"), at)
    event = change_stage(lead, "rejected", actor_id=actor_id, at=at, reason=reason,
                         data={"note": note} if note else {})
    lead.close_reason = f"{reason}: {note}" if note else reason
    return event


def _amount(value, required: bool) -> Decimal | None:
    if value in (None, ""):
        if required:
            raise ValidationFailed("Give the amount.",
                                   fields={"amount": ["An amount is required."]})
        return None
    try:
        amount = money(value)
    except (InvalidOperation, ValueError, TypeError):
        raise ValidationFailed("The amount is not a number.",
                               fields={"amount": ["Give an amount such as 1250.00."]}) from None
    if amount <= 0 or amount >= Decimal("1e12"):
        raise ValidationFailed("The amount must be positive.",
                               fields={"amount": ["Give an amount greater than zero."]})
    return amount


def open_opportunity(lead: Lead, actor_id: int, amount, at: datetime | None = None) -> LeadEvent:
    """An accepted lead becomes an opportunity worth `amount`."""
    value = _amount(amount, required=True)
    lead = lock(lead)
    event = change_stage(lead, "opportunity", actor_id=actor_id, at=at or utcnow(),
                         data={"amount": str(value)})
    lead.amount = value
    return event


def close(lead: Lead, actor_id: int, won: bool, amount=None, reason: str | None = None,
          note: str = "", at: datetime | None = None) -> LeadEvent:
    """Close won (with the amount) or lost (with a reason)."""
    at = at or utcnow()
    reason, note = (reason or "").strip(), (note or "").strip()
    lead = lock(lead)
    value = _amount(amount, required=won and lead.amount is None)
    if not won and not reason:
        raise ValidationFailed("Give the reason the deal was lost.",
                               fields={"reason": ["A reason is required."]})
    data = {"amount": str(value)} if value is not None else {}
    if note:
        data["note"] = note
    event = change_stage(lead, "won" if won else "lost", actor_id=actor_id, at=at,
                         reason=reason or None, data=data)
    if value is not None:
        lead.amount = value
    if reason:
        lead.close_reason = f"{reason}: {note}" if note else reason
    return event


def recycle(lead: Lead, actor_id: int | None, reason: str, at: datetime | None = None) -> LeadEvent:
    """Back to marketing nurture (stage recycled), with the reason."""
    event = change_stage(lead, "recycled", actor_id=actor_id, at=at or utcnow(), reason=reason)
    lead.close_reason = reason
    return event


def sql_checklist(product: str) -> list[str]:
    definition = db.session.scalar(select(MqlDefinition).where(MqlDefinition.product == product))
    return list(definition.sql_checklist or []) if definition else []


def reassign(lead: Lead, to_user_id: int, actor_id: int | None, at: datetime | None = None,
             restart: bool = False, reason: str | None = None) -> LeadEvent | None:
    """Give an open lead to another rep; None when it already is theirs.

    The first-attempt clock keeps running from the first assignment unless `restart`
    (a manager's explicit choice); a lead assigned for the first time starts its clocks.
    """
    at = at or utcnow()
    target = db.session.get(User, to_user_id)
    if target is None or not target.active or target.role not in REP_ROLES:
        raise ValidationFailed("Choose an active sales rep.",
                               fields={"owner": ["Choose an active sales rep."]})
    lead = lock(lead)
    if not lead.is_open:
        raise InvalidTransition(f"A lead in stage '{lead.stage}' is closed and cannot be "
                                "reassigned.", fields={"stage": [lead.stage]})
    if lead.owner_id == to_user_id:
        return None
    previous = lead.owner_id
    if previous is None:  # a first assignment, as routing would do it: the clocks start now
        return assignment.assign(lead, target, at, actor_id=actor_id,
                                 reason=reason or "assigned by a manager")
    event = LeadEvent(lead=lead, kind="assign", from_stage=lead.stage, to_stage=lead.stage,
                      actor_id=actor_id, at=at, reason=reason,
                      data={"from_owner": previous, "to_owner": to_user_id, "restart": restart},
                      processed_at=at)  # no follow-up job: nothing for recovery to redo
    db.session.add(event)
    lead.owner_id, lead.assigned_at = to_user_id, at
    target.last_assigned_at = at
    clocks = sla.clocks_of(lead, lock=True)
    for clock in clocks.values():
        if clock.status == "running":  # a breach stays with the rep who missed it
            clock.owner_id = to_user_id
    if restart:
        sla.restart_first_attempt(lead, at)
    db.session.flush()
    return event


def reassign_many(lead_ids, to_user_id: int, actor_id: int | None, at: datetime | None = None,
                  restart: bool = False) -> int:
    """Bulk reassignment by a manager; closed or missing leads are skipped. How many moved."""
    at = at or utcnow()
    ids = sorted({int(i) for i in lead_ids})
    leads = db.session.scalars(select(Lead).where(Lead.id.in_(ids)).order_by(Lead.id)).all()
    if len(leads) != len(ids):
        raise NotFound("Some of the chosen leads do not exist.")
    moved = 0
    for lead in leads:
        if lead.is_open and reassign(lead, to_user_id, actor_id, at=at, restart=restart):
            moved += 1
    return moved


def next_rep(lead: Lead) -> User | None:
    """Round robin among the present reps of the lead's product, other than its owner.

    The same order as services.assignment routing, but never the rep who just missed it.
    """
    query = assignment.candidates(lead.product).limit(1)
    if lead.owner_id is not None:
        query = query.where(User.id != lead.owner_id)
    return db.session.scalar(query)
