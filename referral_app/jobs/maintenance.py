"""Retention: prune outbox, webhook log and idempotency rows that have served their purpose.

These tables grow with every referral and never shrink on their own (docs/deploy.md). The
job runs daily from `rq cron`, deletes in short batches (each its own transaction, so no
long lock and no huge WAL burst), and is idempotent: a second run finds nothing left.
"""
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from referral_app.extensions import db
from referral_app.jobs.base import app_job
from referral_app.models import IdempotencyRecord, Notification, WebhookDelivery
from referral_app.models.base import utcnow

NOTIFICATION_DAYS = 90  # sent or given-up messages; the in-app list shows the recent ones
WEBHOOK_DAYS = 30  # delivered or failed deliveries: the log partners' support reads
IDEMPOTENCY_HOURS = 48  # answers are replayed for 24 h; keep a day of margin
BATCH = 5000


def _rules(now: datetime) -> list[tuple[str, object, list]]:
    """(name, model, conditions) of every row that may go."""
    return [
        ("notifications", Notification,
         [Notification.status.in_(("sent", "logged", "failed")),
          Notification.created_at < now - timedelta(days=NOTIFICATION_DAYS)]),
        ("webhook_deliveries", WebhookDelivery,
         [WebhookDelivery.status.in_(("delivered", "failed")),
          WebhookDelivery.created_at < now - timedelta(days=WEBHOOK_DAYS)]),
        ("idempotency_records", IdempotencyRecord,
         [IdempotencyRecord.created_at < now - timedelta(hours=IDEMPOTENCY_HOURS)]),
    ]


def prune_expired(now: datetime, batch: int = BATCH, max_batches: int = 1000) -> dict[str, int]:
    """Delete expired rows in batches of `batch`, committing each; rows deleted per table."""
    counts = {}
    for name, model, conditions in _rules(now):
        counts[name] = 0
        for _ in range(max_batches):
            ids = select(model.id).where(*conditions).order_by(model.id).limit(batch)
            deleted = db.session.execute(
                delete(model).where(model.id.in_(ids.scalar_subquery()))
                .execution_options(synchronize_session=False)).rowcount
            db.session.commit()
            counts[name] += deleted
            if deleted < batch:
                break
    return counts


@app_job
def prune(now: str | None = None) -> dict[str, int]:
    """Daily retention run; `now` (ISO-8601) only for replays and tests."""
    return prune_expired(datetime.fromisoformat(now) if now else utcnow())
