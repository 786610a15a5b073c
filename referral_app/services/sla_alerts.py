"""What happens around a clock's due time: the early warning, and the handling of a breach."""
from datetime import datetime

from sqlalchemy import select

from referral_app.extensions import db
from referral_app.models import Lead, SlaClock, User
from referral_app.services import leads, sla, webhooks
from referral_app.services.notify import notify
from referral_app.services.stages import can_move

LABELS = {"first_attempt": "first attempt", "decision": "accept-or-reject decision",
          "attempt_limit": "attempt window"}


def _locked(clock_id: int) -> SlaClock | None:
    # The row lock makes a job that runs twice at once act once: the second waits, then
    # sees warned_at / handled_at set by the first.
    return db.session.scalar(select(SlaClock).where(SlaClock.id == clock_id).with_for_update()
                             .execution_options(populate_existing=True))


def _who(lead: Lead) -> str:
    referral = lead.referral
    company = f" ({referral.referee_company})" if referral.referee_company else ""
    return f"{referral.referee_name}{company}"


def _link(lead: Lead) -> str:
    return f"/queue/leads/{lead.id}"


def warn(clock_id: int, now: datetime) -> str:
    """Tell the owner that 80% of the allowed time is gone; once per clock and due time."""
    clock = _locked(clock_id)
    if clock is None or clock.status != "running" or clock.warned_at is not None:
        return "skipped"
    if now >= clock.due_at:
        return "too late"  # the breach handling speaks now
    owner_id = clock.owner_id or clock.lead.owner_id
    if owner_id is None:
        clock.warned_at = now  # nobody to tell: settled, so the minute sweep stops asking
        return "no owner"
    lead = clock.lead
    label = LABELS[clock.kind]
    notify("sla.warning", f"Soon due: {label} for {_who(lead)}",
           f"The {label} for {_who(lead)} is due at {clock.due_at:%Y-%m-%d %H:%M} UTC.\n"
           f"Open the lead: {_link(lead)}",
           user_id=owner_id,
           data={"lead_id": lead.id, "clock_id": clock.id, "kind": clock.kind,
                 "due_at": clock.due_at.isoformat()},
           dedupe_key=f"warn:{clock.id}:{int(clock.due_at.timestamp())}")
    clock.warned_at = now
    return "warned"


def managers_of(owner: User | None) -> list[User]:
    """The owner's manager, or every active sales manager when none is set."""
    if owner is not None and owner.manager_id:
        manager = db.session.get(User, owner.manager_id)
        if manager is not None and manager.active:
            return [manager]
    return list(db.session.scalars(select(User).where(User.role == "sales_manager",
                                                      User.active.is_(True)).order_by(User.id)))


def handle_breach(clock_id: int, now: datetime) -> str:
    """Act on one breached clock, once: recycle (attempt window) or notify and maybe reassign."""
    clock = _locked(clock_id)
    if clock is None or clock.status != "breached" or clock.handled_at is not None:
        return "skipped"
    clock.handled_at = now
    lead = clock.lead
    if not lead.is_open and lead.closed_at is not None and lead.closed_at <= clock.due_at:
        # Closed in time by a path that did not cancel the clock (e.g. a purchase): no miss.
        clock.status, clock.breached_at = "cancelled", None
        sla.refresh_due(lead)
        return "cancelled"
    webhooks.publish_sla_breached(clock)  # once per clock, keyed by its id
    if clock.kind == "attempt_limit":
        return _window_ended(clock, lead, now)
    owner = db.session.get(User, clock.owner_id) if clock.owner_id else None
    label = LABELS[clock.kind]
    data = {"lead_id": lead.id, "clock_id": clock.id, "kind": clock.kind,
            "due_at": clock.due_at.isoformat()}
    body = (f"The {label} for {_who(lead)} was due at {clock.due_at:%Y-%m-%d %H:%M} UTC "
            f"and was missed.\nOpen the lead: {_link(lead)}")
    if owner is not None:
        notify("sla.breached", f"SLA missed: {label} for {_who(lead)}", body,
               user_id=owner.id, data=data, dedupe_key=f"breach:{clock.id}:{owner.id}")
    owner_name = (owner.name or owner.email) if owner else "nobody"
    for manager in managers_of(owner):
        if owner is None or manager.id != owner.id:
            notify("sla.breached", f"SLA missed by {owner_name}: {label} for {_who(lead)}",
                   body, user_id=manager.id, data=data,
                   dedupe_key=f"breach:{clock.id}:{manager.id}")
    agreement = lead.agreement
    if (agreement is not None and agreement.auto_reassign and clock.kind == "first_attempt"
            and clock.met_at is None and lead.is_open):
        target = leads.next_rep(lead)
        if target is not None:
            leads.reassign(lead, target.id, None, at=now,
                           reason=f"automatic: the {label} SLA was missed")
            notify("lead.assigned", f"New lead for you (SLA missed): {_who(lead)}",
                   f"{_who(lead)} was reassigned to you because the {label} was missed.\n"
                   f"Open the lead: {_link(lead)}", user_id=target.id, data=data,
                   dedupe_key=f"breach:{clock.id}:{target.id}")
            return "reassigned"
    return "notified"


def _window_ended(clock: SlaClock, lead: Lead, now: datetime) -> str:
    """The attempt window closed without a connected outcome: back to marketing nurture."""
    if clock.met_at is not None or not lead.is_open or not can_move(lead, "recycled"):
        return "notified"
    days = lead.agreement.attempt_window_days if lead.agreement else "?"
    leads.recycle(lead, None, f"the {days}-day attempt window ended without a connected "
                              "outcome", at=now)
    owner_id = clock.owner_id or lead.owner_id
    if owner_id:
        notify("sla.breached", f"Lead recycled: {_who(lead)}",
               f"The {days}-day attempt window for {_who(lead)} ended without a connected "
               f"outcome; the lead went back to marketing nurture.\n{_link(lead)}",
               user_id=owner_id, data={"lead_id": lead.id, "clock_id": clock.id,
                                       "kind": clock.kind},
               dedupe_key=f"breach:{clock.id}:{owner_id}")
    return "recycled"
