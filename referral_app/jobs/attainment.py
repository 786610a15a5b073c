"""Hourly job: the marketing side of every SLA agreement, tracked and closed month by month."""
from datetime import datetime

from referral_app.jobs.base import app_job
from referral_app.services import attainment


@app_job
def track(at: str | None = None) -> int:
    """Idempotent: rows are upserted per product and month, warnings deduplicated per day.

    `at` (ISO-8601) replays the job as of another instant; cron passes nothing.
    """
    now = datetime.fromisoformat(at) if at else None
    return len(attainment.track(now))
