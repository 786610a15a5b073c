"""SLA clocks: start them at assignment with a due time fixed once, sweep the overdue."""
from datetime import datetime, timedelta

from sqlalchemy import select, update

from referral_app.extensions import db
from referral_app.models import Agreement, Lead, SlaClock


def agreement_for(product: str) -> Agreement | None:
    """The version in force for a product (the newest in-force version)."""
    return db.session.scalar(
        select(Agreement).where(Agreement.product == product, Agreement.status == "in_force")
        .order_by(Agreement.version.desc()).limit(1))


def start_clocks(lead: Lead, at: datetime) -> list[SlaClock]:
    """Start the first-attempt clock of a lead assigned at `at` (no-op without an agreement).

    The due time is computed here, once, with the agreement's business calendar.
    """
    agreement = lead.agreement or agreement_for(lead.product)
    if agreement is None:
        return []
    lead.agreement = agreement
    hours = timedelta(hours=float(agreement.first_attempt_hours))
    if agreement.first_attempt_clock == "business":
        due = agreement.calendar.business().add(at, hours)
    else:
        due = at + hours
    clock = db.session.scalar(select(SlaClock).where(SlaClock.lead_id == lead.id,
                                                     SlaClock.kind == "first_attempt"))
    if clock is None:
        clock = SlaClock(lead_id=lead.id, kind="first_attempt", agreement_id=agreement.id,
                         owner_id=lead.owner_id, started_at=at, due_at=due)
        db.session.add(clock)
    db.session.flush()
    return [clock]


def sweep(now: datetime) -> list[int]:
    """Mark every running clock with due_at < now as breached, in one statement; their ids."""
    result = db.session.execute(
        update(SlaClock)
        .where(SlaClock.status == "running", SlaClock.due_at < now)
        .values(status="breached", breached_at=now)
        .returning(SlaClock.id)
    )
    return [row[0] for row in result]
