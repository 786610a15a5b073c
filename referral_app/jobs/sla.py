"""SLA jobs: the minute sweep (rq cron), the precise sweep at a due second, the warning, the breach."""
import logging

from referral_app.extensions import db
from referral_app.jobs.base import app_job
from referral_app.models.base import utcnow
from referral_app.services import sla, sla_alerts

log = logging.getLogger(__name__)


@app_job
def sweep() -> int:
    """Every minute: breach every overdue running clock and enqueue their handling."""
    return len(sla.sweep_and_enqueue(utcnow()))


@app_job
def sweep_at(second: str) -> int:
    """Scheduled at a second when clocks fall due: breach them to the second (the sweep is
    set-based and idempotent, so it also takes whatever else is overdue)."""
    breached = sla.sweep(utcnow())
    sla.enqueue_breach_jobs(breached)
    return len(breached)


@app_job
def due(clock_id: int) -> bool:
    """The per-clock job of clocks started before 0003: breach it if it is still running."""
    return sla.breach_one(clock_id, utcnow())


@app_job
def warn(clock_id: int) -> str:
    """At 80% of the allowed time (found by the minute sweep): tell the owner (once)."""
    return sla_alerts.warn(clock_id, utcnow())


@app_job
def warn_many(clock_ids: list[int]) -> int:
    """A flood of early warnings in one job: each clock warned and committed on its own."""
    return _each(sla_alerts.warn, clock_ids, "warning")


@app_job
def breached(clock_id: int) -> str:
    """Notify owner and manager, recycle or reassign per the agreement (once per breach)."""
    return sla_alerts.handle_breach(clock_id, utcnow())


@app_job
def breached_many(clock_ids: list[int]) -> int:
    """A flood of breaches in one job: each clock handled and committed on its own, once."""
    return _each(sla_alerts.handle_breach, clock_ids, "breach")


def _each(act, clock_ids: list[int], what: str) -> int:
    failed = 0
    for clock_id in clock_ids:
        try:
            act(clock_id, utcnow())
            db.session.commit()
        except Exception:
            # One bad clock must not hold back the others; the retry skips the settled ones.
            db.session.rollback()
            log.exception("%s of clock %s failed", what, clock_id)
            failed += 1
    if failed:
        raise RuntimeError(f"{failed} of {len(clock_ids)} {what}(s) failed; retrying")
    return len(clock_ids)
