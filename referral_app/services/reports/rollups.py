"""SLA days: each product's SLA figures per settled local day, so reports read days, not rows.

A day (a date in the product's agreement zone) is rolled up once it has ended and is
settled: none of the clocks started on it is still running before its due time (a running
clock past due already counts as breached, which the sweep only confirms). What can change
a settled day afterwards is written through the ORM, which marks the lead `touched_at`
(models.lead): a new stage event (an MQL accepted later, a lead won) or a clock written (a
late first attempt, a clock cancelled). Each pass recomputes the days such leads touched
and restamps every row, and readers compute touched days live (reports.rolled), so the
reports never read a stale day. Figures are the ones sla_measures defines, per day.
"""
import sys
from array import array
from datetime import date, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, update

from referral_app.extensions import db
from referral_app.models import Agreement, Lead, LeadEvent, SlaClock, SlaDay, SlaDayClock
from referral_app.models.base import utcnow
from referral_app.services.reports.business_time import band_of, seconds_of
from referral_app.services.reports.common import analyze_after_bulk, calendars, fast_reads
from referral_app.services.reports.periods import Bucket, local_midnight, product_zones
from referral_app.services.reports.sla_measures import (
    CLOCK_KINDS,
    SPEED_EDGES,
    Layout,
    clock_outcomes,
    first_attempts,
    marketing,
)

# Writers stamp touched_at at flush and commit a moment later: a pass starting in between
# would not see their change, so readers and the next pass look back this far. It must
# exceed models.lead.TOUCH_AGAIN_AFTER (a lead touched that recently is not re-stamped).
IN_FLIGHT = timedelta(minutes=5)
CHUNK_DAYS = 31  # days per statement: each day is one branch of the bucket CASE


def pack(values, ordered: bool = True) -> bytes:
    """Whole numbers (sorted unless `ordered` is false) as little-endian int32."""
    packed = array("i", (sorted if ordered else list)(round(v) for v in values))
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def unpack(blob: bytes | None) -> array:
    packed = array("i")
    packed.frombytes(blob or b"")
    if sys.byteorder == "big":
        packed.byteswap()
    return packed


def local_days(instants, zone: str) -> set[date]:
    tz = ZoneInfo(zone)
    return {at.astimezone(tz).date() for at in instants}


def touched_days(zones: dict[str, str], since: datetime) -> set[tuple[str, date]]:
    """(product, local day) of every clock start and qualification of the leads touched at or
    after `since`: the days whose rolled-up figures may be out of date."""
    clocks = (select(Agreement.product, SlaClock.started_at)
              .join(Agreement, Agreement.id == SlaClock.agreement_id)
              .join(Lead, Lead.id == SlaClock.lead_id).where(Lead.touched_at >= since))
    events = (select(Lead.product, LeadEvent.at).join(Lead, Lead.id == LeadEvent.lead_id)
              .where(Lead.touched_at >= since, LeadEvent.kind == "stage",
                     LeadEvent.to_stage == "mql"))
    out = set()
    for statement in (clocks, events):
        for product, at in db.session.execute(statement):
            if product in zones:
                out |= {(product, day) for day in local_days([at], zones[product])}
    return out


def unsettled_days(product: str, zone: str, now: datetime) -> set[date]:
    """Days with a clock still running before its due time (its outcome is not known)."""
    starts = db.session.scalars(
        select(SlaClock.started_at).join(Agreement, Agreement.id == SlaClock.agreement_id)
        .where(SlaClock.status == "running", SlaClock.due_at > now, Agreement.product == product))
    return local_days(starts, zone)


def _first_day(product: str, zone: str) -> date | None:
    first_clock = db.session.scalar(
        select(func.min(SlaClock.started_at)).join(Agreement, Agreement.id == SlaClock.agreement_id)
        .where(Agreement.product == product))
    first_mql = db.session.scalar(
        select(func.min(LeadEvent.at)).join(Lead, Lead.id == LeadEvent.lead_id)
        .where(LeadEvent.to_stage == "mql", Lead.product == product))
    instants = [at for at in (first_clock, first_mql) if at is not None]
    return min(local_days(instants, zone)) if instants else None


def roll_up(now: datetime, products=None) -> int:
    """Roll up every ended, settled day of each product that is missing or was touched since
    its last pass; returns how many days were written. Idempotent; the caller commits.

    `now` decides which days have ended and settled (and which running clocks count as
    breached); rows are stamped with the wall clock, which `touched_at` is compared with.
    """
    fast_reads()
    written, stamp = 0, utcnow()  # wall-clock time, compared with touched_at
    for product, zone in sorted(product_zones().items()):
        if products is not None and product not in products:
            continue
        for model in (SlaDay, SlaDayClock):  # rows of a zone the product no longer uses
            db.session.execute(delete(model).where(model.product == product, model.zone != zone))
        first = _first_day(product, zone)
        if first is None:
            continue
        last = now.astimezone(ZoneInfo(zone)).date() - timedelta(days=1)
        stamps = dict(db.session.execute(select(SlaDay.day, SlaDay.computed_at)
                                         .where(SlaDay.product == product)).all())
        due = due_days(first, last, stamps, lambda since, p=product, z=zone: {
            day for name, day in touched_days({p: z}, since) if name == p})
        unsettled = unsettled_days(product, zone, now)
        _forget(product, unsettled & set(stamps))
        due -= unsettled
        days = sorted(due)
        for start in range(0, len(days), CHUNK_DAYS):
            written += _write(product, zone, days[start:start + CHUNK_DAYS], now)
        db.session.execute(update(SlaDay).where(SlaDay.product == product)
                           .values(computed_at=stamp))
    db.session.flush()
    analyze_after_bulk(written, SlaDay.__tablename__, SlaDayClock.__tablename__)
    return written


def due_days(first: date, last: date, stamps: dict, touched) -> set[date]:
    """The days of [first, last] not rolled up yet (no stamp) or touched since their pass;
    `touched(since)` gives the days of the leads touched at or after `since`."""
    due = {first + timedelta(days=n) for n in range((last - first).days + 1)} - set(stamps)
    if stamps:
        due |= {day for day in touched(min(stamps.values()) - IN_FLIGHT) if first <= day <= last}
    return due


def _forget(product: str, days) -> None:
    for model in (SlaDay, SlaDayClock):
        for chunk in _chunks(sorted(days), 500):
            db.session.execute(delete(model).where(model.product == product, model.day.in_(chunk)))


def _chunks(items, size):
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _write(product: str, zone: str, days: list[date], now: datetime) -> int:
    """Compute and store the given days of one product (replacing what was there)."""
    buckets = [Bucket(day.isoformat(), local_midnight(day, zone),
                      local_midnight(day + timedelta(days=1), zone)) for day in days]
    layout = Layout.single(buckets, products=[product])
    mql = marketing(layout)
    outcomes = clock_outcomes(layout, now, group=("bucket", "kind", "owner_id"))
    timing = _first_attempt_days(layout)
    _forget(product, days)
    base = {"product": product, "zone": zone}
    totals: dict[str, list[int]] = {}
    for (key, kind, _), figures in outcomes.items():
        if kind in CLOCK_KINDS:
            at = 3 * CLOCK_KINDS.index(kind)
            sums = totals.setdefault(key, [0] * 3 * len(CLOCK_KINDS))
            sums[at:at + 3] = [a + b for a, b in zip(sums[at:at + 3], figures, strict=True)]
    db.session.execute(insert(SlaDay), [
        {**base, "day": day, "computed_at": utcnow(),
         "clocks": pack(totals.get(day.isoformat(), [0] * 3 * len(CLOCK_KINDS)), ordered=False),
         **dict(zip(("mqls", "accepted", "rejected"), mql.get((product, day.isoformat()), (0, 0, 0)),
                    strict=True)),
         **timing.get(day.isoformat(), _no_timing())} for day in days])
    clock_rows = [{**base, "day": date.fromisoformat(key), "kind": kind, "owner_id": owner or 0,
                   "clocks": n, "met": met, "breached": late}
                  for (key, kind, owner), (n, met, late) in outcomes.items()]
    if clock_rows:
        db.session.execute(insert(SlaDayClock), clock_rows)
    return len(days)


def _no_timing() -> dict:
    return {"first_attempts": 0, "durations": b"",
            "bands": pack([0] * 2 * (len(SPEED_EDGES) + 2), ordered=False)}


def _first_attempt_days(layout: Layout) -> dict[str, dict]:
    """Per day key: first-attempt clocks, their packed durations and speed bands."""
    pop = first_attempts(layout, outcome=True)
    cals = calendars()
    days: dict[str, tuple[list, list]] = {}
    for key, calendar_id, started, ended, won, secs in db.session.execute(
            select(pop.c.bucket, pop.c.calendar_id, pop.c.started_at, pop.c.ended_at, pop.c.won,
                   pop.c.secs)):
        durations, bands = days.setdefault(key, ([], [[0, 0] for _ in range(len(SPEED_EDGES) + 2)]))
        seconds = seconds_of(cals, calendar_id, started, ended, secs)
        if seconds is not None:
            durations.append(seconds)
        band = bands[band_of(seconds, SPEED_EDGES)]
        band[0] += 1
        band[1] += int(won or 0)
    return {key: {"first_attempts": sum(b[0] for b in bands), "durations": pack(durations),
                  "bands": pack([v for band in bands for v in band], ordered=False)}
            for key, (durations, bands) in days.items()}
