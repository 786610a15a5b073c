"""Follow-ups of a lead's change of stage: rewards, referrer notifications, webhooks."""
from referral_app.extensions import db
from referral_app.jobs.base import app_job, each
from referral_app.models import LeadEvent, Referral
from referral_app.models.base import utcnow
from referral_app.services import rewards, webhooks
from referral_app.services.notify import notify
from referral_app.services.stages import REWARD_TRIGGERS, stage_job_id

# How the referrer reads each stage: "Jane Doe is now <words>".
STAGE_WORDS = {
    "mql": "a qualified lead",
    "sql": "accepted by our sales team",
    "opportunity": "a sales opportunity",
    "won": "a customer",
    "lost": "closed without a sale",
    "rejected": "declined by our sales team",
    "recycled": "back with marketing for now",
    "new": "back in the queue",
}


@app_job
def stage_changed(event_id: int) -> str:
    """Idempotent: every follow-up is keyed by the event, so a second run adds nothing."""
    event = db.session.get(LeadEvent, event_id)
    if event is None:
        return "missing"
    if event.kind != "stage":
        event.processed_at = event.processed_at or utcnow()
        return "ignored"
    lead = event.lead
    trigger = REWARD_TRIGGERS.get(event.to_stage)
    if trigger:
        rewards.fire(lead.referral_id, trigger, at=event.at)
    referral = db.session.get(Referral, lead.referral_id)
    if referral.referrer_id is not None:
        words = STAGE_WORDS.get(event.to_stage, event.to_stage)
        notify("stage_changed", f"Your referral {referral.referee_name} is now {words}",
               f"{referral.referee_name}, whom you referred to {lead.program.name}, is now "
               f"{words}.", user_id=referral.referrer_id,
               data={"referral_id": referral.id, "lead_id": lead.id, "stage": event.to_stage},
               dedupe_key=f"stage:{event_id}")
    webhooks.publish("lead.stage_changed", webhooks.stage_payload(event),
                     key=f"lead.stage_changed:{event_id}")
    event.processed_at = event.processed_at or utcnow()
    return "ok"


@app_job
def stages_changed(event_ids: list[int]) -> dict[str, int]:
    """`stage_changed` for a group of events committed together. Intake's group commit now
    sends its moves with rewards.referrals_submitted; kept so that a job enqueued before an
    upgrade still runs after it."""
    return each(stage_changed, event_ids, stage_job_id)
