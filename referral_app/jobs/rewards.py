"""Reward jobs: a new referral's rewards and webhook, and issuing rewards whose hold is over."""
import logging
from collections import Counter

from referral_app.errors import DomainError
from referral_app.extensions import db
from referral_app.jobs.base import app_job, each
from referral_app.jobs.lead_events import stage_changed
from referral_app.models import Referral
from referral_app.models.base import utcnow
from referral_app.services import reward_states, rewards, webhooks
from referral_app.services.intake import submitted_job_id
from referral_app.services.stages import stage_job_id

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
def referrals_submitted(referral_ids: list[int], event_ids: list[int] = ()) -> dict[str, int]:
    """`referral_submitted` for a group of referrals committed together (the API's group
    commit), and `stage_changed` for the group's moves to mql (`event_ids`): one job for the
    group instead of one per referral and event, each in its own savepoint. (One job, not a
    rewards job and a stages job: RQ's enqueueing cost the intake writer ~0.3 ms of CPU a
    job, bench session 15.)"""
    done = Counter(each(referral_submitted, referral_ids, submitted_job_id))
    done.update(each(stage_changed, list(event_ids), stage_job_id))
    return dict(done)


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
