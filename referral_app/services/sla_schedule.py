"""The SLA's jobs, planned from the database: precise sweeps at due seconds, early warnings
and breach handling, in batches when they come in floods."""
import hashlib
import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from referral_app.extensions import db
from referral_app.jobs import SLA, enqueue_after_commit
from referral_app.jobs.queues import rq_job_id
from referral_app.models import SlaClock

SINGLE_JOBS_UP_TO = 20  # up to this many clocks at once: one job per clock
BREACH_BATCH = 500  # clocks per job beyond that
PLAN_AHEAD = timedelta(seconds=90)  # > the minute between sweeps, so no due time slips by
WARN_BATCH = 1000  # warnings planned per minute sweep (the rest wait a minute)


def job_id(name: str) -> str:
    """A deterministic RQ job id, under the deployment's queue prefix (ids restart per database)."""
    return rq_job_id(name)


def schedule(clock: SlaClock) -> None:
    """Second-level precision for a clock just started (or restarted): a precise sweep at its
    due second when it falls due before a minute sweep could plan one (see `plan_precise`).

    No job per clock: one precise sweep per due second, planned at most PLAN_AHEAD ahead, so
    Redis holds a few dozen SLA jobs whatever the number of open leads, and the early warning
    comes from the minute sweep too (`warn_at`, see `due_warnings`).
    """
    if clock.due_at - clock.started_at <= PLAN_AHEAD:
        _sweep_at(_second(clock.due_at))


def plan_precise(now: datetime) -> int:
    """Plan a precise sweep at every second in (now, now + PLAN_AHEAD] at which a running
    clock falls due; how many seconds. Run by each minute sweep: with sweeps 60 s apart and
    90 s of look-ahead, every due time longer than PLAN_AHEAD after its start is planned by
    one (a repeat plans nothing new: the job id is the second)."""
    dues = db.session.scalars(
        select(SlaClock.due_at).where(SlaClock.status == "running", SlaClock.due_at > now,
                                      SlaClock.due_at <= now + PLAN_AHEAD))
    seconds = sorted({_second(due) for due in dues})
    for second in seconds:
        _sweep_at(second)
    return len(seconds)


def _second(due: datetime) -> datetime:
    # The first whole second after due_at: a sweep then sees `due_at < now`.
    return datetime.fromtimestamp(math.floor(due.timestamp()) + 1, UTC)


def _sweep_at(second: datetime) -> None:
    enqueue_after_commit("referral_app.jobs.sla.sweep_at", second.isoformat(), queue=SLA,
                         job_id=job_id(f"sla-sweep-at-{int(second.timestamp())}"), at=second)


def enqueue_breach_jobs(clock_ids: list[int]) -> None:
    """Handling jobs for breaches, sent after commit; handling is idempotent per clock."""
    _enqueue_per_clock("breached", "sla-breach", clock_ids)


def enqueue_warn_jobs(clock_ids: list[int]) -> None:
    """Early-warning jobs, sent after commit; a warning goes out once per clock (warned_at)."""
    _enqueue_per_clock("warn", "sla-warn", clock_ids)


def _enqueue_per_clock(job: str, name: str, clock_ids: list[int]) -> None:
    # A handful keep one job each (the id makes a repeat a no-op); a flood goes in jobs of
    # BREACH_BATCH ids, since one RQ job per clock costs ~2 ms of Redis round trips each.
    if len(clock_ids) <= SINGLE_JOBS_UP_TO:
        for clock_id in clock_ids:
            enqueue_after_commit(f"referral_app.jobs.sla.{job}", clock_id, queue=SLA,
                                 job_id=job_id(f"{name}-{clock_id}"))
        return
    for start in range(0, len(clock_ids), BREACH_BATCH):
        chunk = list(clock_ids[start:start + BREACH_BATCH])
        # The id names the exact set, so a later sweep repeating it adds no second job.
        digest = hashlib.sha1(",".join(map(str, chunk)).encode()).hexdigest()[:16]
        enqueue_after_commit(f"referral_app.jobs.sla.{job}_many", chunk, queue=SLA,
                             job_id=job_id(f"{name}-many-{chunk[0]}-{len(chunk)}-{digest}"))


def due_warnings(now: datetime) -> list[int]:
    """Running clocks past their warning point, not yet warned and not yet due."""
    return list(db.session.scalars(
        select(SlaClock.id).where(SlaClock.status == "running", SlaClock.warned_at.is_(None),
                                  SlaClock.warn_at <= now, SlaClock.due_at > now)
        .order_by(SlaClock.warn_at).limit(WARN_BATCH)))
