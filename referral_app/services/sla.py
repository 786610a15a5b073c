"""SLA clocks: start them with a due time fixed once, meet or cancel them, sweep the overdue."""
import functools
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from referral_app.extensions import db
from referral_app.models import Agreement, Lead, SlaClock
from referral_app.services import new_rows
from referral_app.services.sla_schedule import (  # noqa: F401  (callers' sla.job_id etc.)
    due_warnings,
    enqueue_breach_jobs,
    enqueue_warn_jobs,
    job_id,
    plan_precise,
    schedule,
)

WARN_SHARE = 0.8  # the early warning goes out at 80% of the allowed time
OUTSTANDING = ("running", "breached")  # with met_at NULL: an obligation still owed
RECOVER_AFTER = timedelta(minutes=2)  # a breach unhandled for this long lost its job
RECOVER_HORIZON = timedelta(days=1)  # older unhandled breaches are history, not news
RECOVER_BATCH = 1000


def agreement_for(product: str) -> Agreement | None:
    """The version in force for a product (the newest in-force version)."""
    return db.session.scalar(
        select(Agreement).where(Agreement.product == product, Agreement.status == "in_force")
        .order_by(Agreement.version.desc()).limit(1).options(joinedload(Agreement.calendar)))


def is_business(kind: str, agreement: Agreement | None) -> bool:
    """Whether a clock of `kind` counts business hours (else wall-clock time)."""
    if kind == "decision":
        return True
    if kind == "first_attempt":
        return agreement is not None and agreement.first_attempt_clock == "business"
    return False  # the attempt window is counted in calendar days


def _allowed(kind: str, agreement: Agreement) -> timedelta:
    if kind == "first_attempt":
        return timedelta(hours=float(agreement.first_attempt_hours))
    if kind == "decision":
        return timedelta(hours=float(agreement.decision_hours))
    return timedelta(days=agreement.attempt_window_days)


def _after(agreement: Agreement, business: bool, start: datetime, delta: timedelta) -> datetime:
    if business:
        return _business_after(agreement.calendar.business(), start, delta)
    return start + delta


@functools.lru_cache(maxsize=256)
def _business_after(calendar, start: datetime, delta: timedelta) -> datetime:
    """calendar.add, remembered: a group of API referrals starts every clock at one instant
    (calendars are cached per definition, so the same one comes back)."""
    return calendar.add(start, delta)


def clocks_of(lead: Lead, lock: bool = False) -> dict[str, SlaClock]:
    """The lead's clocks by kind; `lock` re-reads them under a row lock, so a concurrent
    sweep waits and then skips what this transaction met."""
    query = select(SlaClock).where(SlaClock.lead_id == lead.id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return {clock.kind: clock for clock in db.session.scalars(query)}


def start_clock(lead: Lead, kind: str, at: datetime) -> SlaClock | None:
    """Start one clock of `kind` at `at` under the lead's agreement (once per lead and kind)."""
    agreement = lead.agreement
    if agreement is None:
        return None
    clocks = clocks_of(lead)
    if kind in clocks:
        return clocks[kind]
    clock = new_clock(lead, kind, agreement, at)
    db.session.add(clock)
    db.session.flush()
    schedule(clock)
    if clocks:
        refresh_due(lead)
    return clock


def new_clock(lead: Lead, kind: str, agreement: Agreement, at: datetime) -> SlaClock:
    """A clock of `kind` started at `at`, due under `agreement`, not flushed: the caller
    knows the lead has no clock of this kind, adds it, flushes, then calls `schedule`.

    The lead's `sla_due_at` becomes this due time (right for its first clock; start_clock
    refreshes it from the database when the lead has others).
    """
    clock = new_rows.child(SlaClock, lead, lead=lead, kind=kind, agreement_id=agreement.id,
                           owner_id=lead.owner_id)
    _time(clock, agreement, at)
    lead.sla_due_at = clock.due_at
    return clock


def _time(clock: SlaClock, agreement: Agreement, at: datetime) -> None:
    """Start `clock` at `at`: its due time and early-warning point, computed once."""
    business, allowed = is_business(clock.kind, agreement), _allowed(clock.kind, agreement)
    clock.started_at, clock.warned_at = at, None
    clock.due_at = _after(agreement, business, at, allowed)
    clock.warn_at = _after(agreement, business, at, allowed * WARN_SHARE)


def start_clocks(lead: Lead, at: datetime) -> list[SlaClock]:
    """Start the first-attempt clock of a lead assigned at `at` (no-op without an agreement).

    The due time is computed here, once, with the agreement's business calendar; the lead
    keeps the agreement version in force now, whatever later versions say.
    """
    agreement = lead.agreement or agreement_for(lead.product)
    if agreement is None:
        return []
    lead.agreement = agreement
    clock = start_clock(lead, "first_attempt", at)
    return [clock] if clock else []


def satisfy(clock: SlaClock | None, at: datetime) -> None:
    """The event that satisfies `clock` happened at `at`: met iff at <= due_at.

    A breached clock stays breached (only met_at is recorded). A running clock satisfied
    late is breached here, since the sweep will never see it running again.
    """
    if clock is None or clock.met_at is not None or clock.status not in OUTSTANDING:
        return
    clock.met_at = at
    clock.business_seconds = measured_seconds(clock, at)
    if clock.status == "running":
        if at <= clock.due_at:
            clock.status = "met"
        else:
            clock.status, clock.breached_at = "breached", at
            enqueue_breach_jobs([clock.id])


def measured_seconds(clock: SlaClock, at: datetime) -> int | None:
    """Time to first attempt as the reports count it: started_at → `at` in open seconds of
    the agreement's calendar (whatever the clock's kind of time), stored once when met."""
    agreement = db.session.get(Agreement, clock.agreement_id) if clock.agreement_id else None
    if clock.kind != "first_attempt" or agreement is None:
        return None
    elapsed = agreement.calendar.business().elapsed(clock.started_at, at)
    return max(round(elapsed.total_seconds()), 0)


def cancel_running(lead: Lead, clocks: dict[str, SlaClock] | None = None) -> None:
    """Cancel the lead's running clocks (it closed or left the sales side): nothing is owed."""
    for clock in (clocks or clocks_of(lead, lock=True)).values():
        if clock.status == "running":
            clock.status = "cancelled"
    refresh_due(lead)


def refresh_due(lead: Lead) -> None:
    """Recompute lead.sla_due_at, the earliest due time still owed (the queue's order)."""
    db.session.flush()
    lead.sla_due_at = db.session.scalar(
        select(SlaClock.due_at).where(SlaClock.lead_id == lead.id, SlaClock.met_at.is_(None),
                                      SlaClock.status.in_(OUTSTANDING))
        .order_by(SlaClock.due_at).limit(1))
    db.session.flush()


def refresh_due_all(lead_ids=None) -> int:
    """Set-based refresh_due for many open leads (data loaders, backfills); rows updated."""
    owed = (select(func.min(SlaClock.due_at))
            .where(SlaClock.lead_id == Lead.id, SlaClock.met_at.is_(None),
                   SlaClock.status.in_(OUTSTANDING))
            .correlate(Lead).scalar_subquery())
    query = update(Lead).where(Lead.is_open.is_(True)).values(sla_due_at=owed)
    if lead_ids is not None:
        query = query.where(Lead.id.in_(list(lead_ids)))
    return db.session.execute(query.execution_options(synchronize_session=False)).rowcount


def restart_first_attempt(lead: Lead, at: datetime) -> SlaClock | None:
    """Give a new owner the full first-attempt time from `at` (only while it is still running).

    A breached clock stays breached: the record of the miss is not erased by a reassignment.
    """
    clock = clocks_of(lead, lock=True).get("first_attempt")
    if clock is None:
        return next(iter(start_clocks(lead, at)), None)
    if clock.status != "running" or lead.agreement is None:
        return clock
    agreement = lead.agreement
    clock.owner_id = lead.owner_id
    _time(clock, agreement, at)
    db.session.flush()
    schedule(clock)
    refresh_due(lead)
    return clock


def sweep(now: datetime) -> list[int]:
    """Mark every running clock with due_at < now as breached, in one statement; their ids.

    The row locks taken by the UPDATE make an overlapping sweep (or a concurrent attempt that
    locked the clock first) re-check `status = 'running'` and skip what is no longer running.
    """
    result = db.session.execute(
        update(SlaClock)
        .where(SlaClock.status == "running", SlaClock.due_at < now)
        .values(status="breached", breached_at=now)
        .returning(SlaClock.id)
        .execution_options(synchronize_session=False)
    )
    return [row[0] for row in result]


def breach_one(clock_id: int, now: datetime) -> bool:
    """The per-clock form of the sweep (the job clocks started before migration 0003 still
    have scheduled at their due_at; newer clocks get precise sweeps instead)."""
    row = db.session.execute(
        update(SlaClock)
        .where(SlaClock.id == clock_id, SlaClock.status == "running", SlaClock.due_at < now)
        .values(status="breached", breached_at=now)
        .returning(SlaClock.id)
        .execution_options(synchronize_session=False)
    ).first()
    if row:
        enqueue_breach_jobs([clock_id])
    return row is not None


def sweep_and_enqueue(now: datetime) -> list[int]:
    """The sweep plus its notifications, a retry for breaches whose job was lost, the early
    warnings now due (a warning queued but not yet run keeps its one job: same id) and the
    precise sweeps of the next PLAN_AHEAD.

    Losing Redis loses no breach: the UPDATE finds them from the database alone, and
    breaches recorded while jobs could not be sent are re-enqueued on a later sweep.
    """
    breached = sweep(now)
    lost = list(db.session.scalars(
        select(SlaClock.id).where(SlaClock.status == "breached", SlaClock.handled_at.is_(None),
                                  SlaClock.breached_at < now - RECOVER_AFTER,
                                  SlaClock.breached_at >= now - RECOVER_HORIZON)
        .order_by(SlaClock.breached_at).limit(RECOVER_BATCH)))
    fresh = set(breached)
    enqueue_breach_jobs(breached + [i for i in lost if i not in fresh])
    enqueue_warn_jobs(due_warnings(now))
    plan_precise(now)
    return breached
