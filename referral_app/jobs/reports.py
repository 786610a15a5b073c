"""Periodic job: roll up the SLA days that have settled or were touched since the last pass."""
from datetime import datetime

from referral_app.jobs.base import app_job
from referral_app.models.base import utcnow
from referral_app.services.reports import rollups


@app_job
def roll_up(at: str | None = None) -> int:
    """Idempotent: each day's rows are replaced; how many days were written. `at`
    (ISO-8601) runs it as of another instant; cron passes nothing."""
    return rollups.roll_up(datetime.fromisoformat(at) if at else utcnow())
