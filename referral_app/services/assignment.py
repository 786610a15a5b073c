"""Routing: a new lead goes to the next rep of its product by round robin, and its clocks start."""
from datetime import datetime

from sqlalchemy import select

from referral_app.extensions import db
from referral_app.models import Lead, LeadEvent, User
from referral_app.services import sla


def _candidates(product: str):
    # Least recently assigned first; a rep never assigned goes before everyone.
    return (select(User)
            .where(User.role == "sales", User.active.is_(True), User.away.is_(False),
                   User.product == product)
            .order_by(User.last_assigned_at.asc().nulls_first(), User.id))


def next_rep(product: str) -> User | None:
    """The rep whose turn it is, row-locked until the caller's transaction ends.

    On PostgreSQL two concurrent intakes must not both read the same "least recently
    assigned" rep: SKIP LOCKED hands the second one the next rep in line. Only when every
    rep is locked does it wait for one (it then sees the updated `last_assigned_at`).
    SQLite has no row locks and serialises writers anyway.
    """
    query = _candidates(product).limit(1)
    rep = db.session.scalar(query.with_for_update(skip_locked=True))
    if rep is None:
        rep = db.session.scalar(query.with_for_update().execution_options(populate_existing=True))
    return rep


def reps_in_turn(product: str) -> list[User]:
    """Every rep of the product in round-robin order, locked (for a CSV batch)."""
    return list(db.session.scalars(_candidates(product).with_for_update()))


def assign(lead: Lead, rep: User, at: datetime, actor_id: int | None = None,
           reason: str = "round robin") -> LeadEvent:
    """Give an unassigned lead to `rep` at `at`, record it, and start its SLA clocks."""
    event = LeadEvent(lead=lead, kind="assign", from_stage=lead.stage, to_stage=lead.stage,
                      actor_id=actor_id, at=at, reason=reason,
                      data={"from_owner": lead.owner_id, "to_owner": rep.id, "restart": False},
                      processed_at=at)  # no follow-up job: nothing for recovery to redo
    db.session.add(event)
    lead.owner_id, lead.owner, lead.assigned_at = rep.id, rep, at
    rep.last_assigned_at = at
    db.session.flush()
    # The SLA clock starts at assignment, never at arrival: nobody owes a first attempt
    # on a lead waiting unassigned in the managers' queue.
    sla.start_clocks(lead, at)
    return event


def route(lead: Lead, at: datetime) -> User | None:
    """Assign the lead to the next rep of its product; None leaves it in the managers' queue."""
    rep = next_rep(lead.product)
    if rep is not None:
        assign(lead, rep, at)
    return rep
