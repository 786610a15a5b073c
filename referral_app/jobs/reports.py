"""Periodic job: roll up the report days (SLA days, cohort days) that are new or touched."""
from datetime import datetime

from referral_app.jobs.base import app_job
from referral_app.models.base import utcnow
from referral_app.services.reports import cohort_days, rollups


@app_job
def roll_up(at: str | None = None) -> int:
    """Idempotent: each day's rows are replaced; how many days were written. `at`
    (ISO-8601) runs it as of another instant; cron passes nothing."""
    now = datetime.fromisoformat(at) if at else utcnow()
    return rollups.roll_up(now) + cohort_days.roll_up(now)
