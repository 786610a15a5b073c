"""Nightly snapshots: recompute the last days per program (late purchases still count)."""
from datetime import date, timedelta

from referral_app.jobs.base import app_job
from referral_app.models.base import utcnow
from referral_app.services import snapshots

LOOKBACK_DAYS = 7  # purchases and stage changes reported late land in their own day


@app_job
def nightly(days: int = LOOKBACK_DAYS) -> int:
    """Idempotent: each day's rows are replaced by an upsert; how many rows were written."""
    today = utcnow().date()
    return sum(snapshots.compute(today - timedelta(days=n)) for n in range(1, days + 1))


@app_job
def compute_day(day: str) -> int:
    """Recompute one day, given as YYYY-MM-DD."""
    return snapshots.compute(date.fromisoformat(day))
