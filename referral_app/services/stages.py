"""Lead stages: the allowed moves, and the one function that moves a lead and records it."""
from datetime import datetime

from referral_app.errors import InvalidTransition
from referral_app.extensions import db
from referral_app.jobs import enqueue_after_commit
from referral_app.models import Lead, LeadEvent
from referral_app.models.base import utcnow
from referral_app.models.lead import OPEN_STAGES
from referral_app.services import new_rows

# from-stage -> the stages it may move to. A purchase may jump any open stage to won.
TRANSITIONS: dict[str, set[str]] = {
    "new": {"mql", "sql", "rejected", "recycled", "won", "lost"},
    "mql": {"sql", "rejected", "recycled", "won", "lost"},
    "sql": {"opportunity", "lost", "recycled", "won"},
    "opportunity": {"won", "lost"},
    "recycled": {"mql", "new"},
    "won": set(),
    "lost": set(),
    "rejected": set(),
}

# Stage-to-trigger names for give-get rewards ("submitted" is fired by intake).
REWARD_TRIGGERS = {"mql": "mql", "sql": "sql", "opportunity": "opportunity", "won": "won"}


def stage_job_id(event_id: int) -> str:
    """The follow-up job's id; recovery reuses it, so a job merely waiting is not doubled."""
    return f"stage-changed-{event_id}"


def can_move(lead: Lead, to_stage: str) -> bool:
    return to_stage in TRANSITIONS.get(lead.stage, set())


def change_stage(lead: Lead, to_stage: str, actor_id: int | None = None,
                 at: datetime | None = None, reason: str | None = None,
                 data: dict | None = None) -> LeadEvent:
    """Move `lead` to `to_stage` (or refuse with 409 invalid_transition) and record the event.

    Enqueues `jobs.lead_events.stage_changed(event_id)` after commit: rewards, referrer
    notifications and webhooks hang off that job, never off the request.
    """
    if not can_move(lead, to_stage):
        raise InvalidTransition(
            f"A lead in stage '{lead.stage}' cannot move to '{to_stage}'.",
            fields={"stage": [lead.stage]},
        )
    event = stage_event(lead, to_stage, actor_id=actor_id, at=at or utcnow(), reason=reason,
                        data=data)
    db.session.add(event)
    db.session.flush()
    if not lead.is_open:
        # A closed lead owes sales nothing more, whoever closed it (rep, purchase, privacy).
        from referral_app.services.sla import cancel_running

        cancel_running(lead)
    enqueue_follow_up(event)
    return event


def stage_event(lead: Lead, to_stage: str, *, actor_id: int | None, at: datetime,
                reason: str | None = None, data: dict | None = None) -> LeadEvent:
    """The event of a move the caller has checked, with the lead moved; neither is flushed
    (intake builds a new lead's events this way and inserts them all in one flush)."""
    event = new_rows.child(LeadEvent, lead, lead=lead, kind="stage", from_stage=lead.stage,
                           to_stage=to_stage, actor_id=actor_id, at=at, reason=reason,
                           data=data or {})
    lead.stage = to_stage
    lead.is_open = to_stage in OPEN_STAGES
    # Releasing the unique open_email lets the same person be referred again later.
    lead.open_email = lead.email if lead.is_open else None
    lead.closed_at = None if lead.is_open else at
    return event


def enqueue_follow_up(event: LeadEvent) -> None:
    """The stage event's follow-up job, sent after commit (the event must have its id)."""
    enqueue_after_commit("referral_app.jobs.lead_events.stage_changed", event.id,
                         job_id=stage_job_id(event.id))


def arrival_event(lead: Lead, actor_id: int | None, at: datetime,
                  source: str | None = None) -> LeadEvent:
    """The first event of every lead: it arrived in stage `new` (not flushed).

    No follow-up job hangs off the arrival (intake's own job does): processed at once.
    """
    return new_rows.child(LeadEvent, lead, lead=lead, kind="stage", from_stage=None,
                          to_stage="new", actor_id=actor_id, at=at,
                          data={"source": source} if source else {}, processed_at=at)
