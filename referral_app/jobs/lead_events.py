"""Follow-ups of a lead's change of stage: rewards, referrer notifications, webhooks."""
from referral_app.extensions import db
from referral_app.jobs.base import app_job
from referral_app.models import LeadEvent


@app_job
def stage_changed(event_id: int) -> str:
    """Idempotent: every follow-up is keyed by the event, so a second run adds nothing."""
    event = db.session.get(LeadEvent, event_id)
    if event is None:
        return "missing"
    # The rewards capability hooks in here (rewards per trigger, exactly once per rule).
    return "ok"
