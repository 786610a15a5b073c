"""Recovery: re-enqueue follow-up jobs that a Redis or worker outage lost (the outbox rule).

Every follow-up leaves a mark in the database when it has run (a referral's
`followed_up_at`, a stage event's `processed_at`, a notification's status). Rows still
unmarked a little while after their commit are re-enqueued; the jobs are idempotent, so a
job that was merely slow runs twice with the effect of once.
"""
from datetime import datetime, timedelta

from sqlalchemy import select

from referral_app.extensions import db
from referral_app.jobs.base import app_job
from referral_app.jobs.queues import ALL_QUEUES, DEFAULT, NOTIFY, get_queue, send_all
from referral_app.models import LeadEvent, Notification, Referral
from referral_app.models.base import utcnow
from referral_app.services.intake import submitted_job_id
from referral_app.services.stages import stage_job_id

GRACE = timedelta(minutes=2)  # leave normal jobs the time to run first
HORIZON = timedelta(days=7)  # older leftovers are for a person to look at, not a retry storm
BATCH = 1000


def lost_work(now: datetime) -> dict[str, list[int]]:
    """Ids whose follow-up has not run although it should have by now."""
    since, until = now - HORIZON, now - GRACE

    def ids(query):
        return list(db.session.scalars(query.limit(BATCH)))

    return {
        "referrals": ids(select(Referral.id).where(
            Referral.followed_up_at.is_(None), Referral.created_at.between(since, until))),
        "events": ids(select(LeadEvent.id).where(
            LeadEvent.processed_at.is_(None), LeadEvent.at.between(since, until))),
        "notifications": ids(select(Notification.id).where(
            Notification.status == "pending", Notification.created_at.between(since, until))),
    }


def reclaim_abandoned() -> None:
    """Jobs held by a worker that died (SIGKILL, lost machine) are retried or marked failed
    once their time limit has passed, instead of at RQ's next registry maintenance; a failed
    one is then re-enqueued below under its own id."""
    from rq.registry import StartedJobRegistry

    for name in ALL_QUEUES:
        StartedJobRegistry(queue=get_queue(name)).cleanup()


@app_job
def recover(now: datetime | None = None) -> dict[str, int]:
    """Periodic (every minute): enqueue again what an outage lost; counts per kind."""
    reclaim_abandoned()
    lost = lost_work(now or utcnow())
    # The same job ids as the original enqueue: a job merely waiting is not queued twice.
    # All of them in send_all's two round trips, not two per job.
    jobs = [dict(func="referral_app.jobs.rewards.referral_submitted", args=(referral_id,),
                 queue=DEFAULT, job_id=submitted_job_id(referral_id), at=None, retries=3)
            for referral_id in lost["referrals"]]
    jobs += [dict(func="referral_app.jobs.lead_events.stage_changed", args=(event_id,),
                  queue=DEFAULT, job_id=stage_job_id(event_id), at=None, retries=3)
             for event_id in lost["events"]]
    jobs += [dict(func="referral_app.jobs.notifications.send", args=(note_id,), queue=NOTIFY,
                  job_id=f"notify-{note_id}", at=None, retries=3)
             for note_id in lost["notifications"]]
    if jobs:
        send_all(jobs)
    return {kind: len(ids) for kind, ids in lost.items()}
