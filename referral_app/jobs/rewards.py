"""Reward jobs: a new referral's rewards and webhook, and issuing rewards whose hold is over."""
import logging

from referral_app.errors import DomainError
from referral_app.extensions import db
from referral_app.jobs.base import app_job
from referral_app.models import Referral
from referral_app.models.base import utcnow
from referral_app.services import reward_states, rewards, webhooks

log = logging.getLogger(__name__)


@app_job
def referral_submitted(referral_id: int) -> str:
    """Enqueued by intake after a referral commits: `submitted` rewards, referral.created."""
    referral = db.session.get(Referral, referral_id)
    if referral is None:
        return "missing"
    rewards.fire(referral.id, "submitted", at=referral.created_at)
    webhooks.publish("referral.created", webhooks.referral_payload(referral),
                     key=f"referral.created:{referral.id}")
    referral.followed_up_at = referral.followed_up_at or utcnow()
    return "ok"


@app_job
def issue_due(limit: int = 500) -> int:
    """Periodic: issue every approved reward whose hold period is over; how many."""
    now = utcnow()
    issued = 0
    for reward_id in reward_states.due_ids(now, limit):
        try:
            with db.session.begin_nested():
                reward_states.issue(reward_id, at=now)
            issued += 1
        except DomainError as exc:  # moved by someone else meanwhile: leave it
            log.info("reward %s not issued: %s", reward_id, exc.message)
    return issued
