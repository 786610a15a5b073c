"""Reading SLA days: which days of a report come rolled up, which are measured live, and the
sum of both.

A report's layout (products, buckets) is split per product: every local day that lies wholly
inside one bucket, is rolled up in the product's current zone and was not touched since
(rollups.touched_days) is read from `sla_days`; everything else (edge hours of a bucket in
another zone, unsettled or touched days, today) is measured live by sla_measures, limited
to those ranges. Both sources count the same things, so they add up; percentiles are
taken over the union of the stored durations and the live ones.
"""
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import chain
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, tuple_

from referral_app.extensions import db
from referral_app.models import Agreement, SlaDay, SlaDayClock
from referral_app.services.reports.business_time import Timing, band_of, seconds_of
from referral_app.services.reports.periods import local_midnight
from referral_app.services.reports.rollups import (
    CLOCK_KINDS,
    IN_FLIGHT,
    touched_days,
    unpack,
)
from referral_app.services.reports.sla_measures import SPEED_EDGES, Layout, first_attempts

ONE_DAY = timedelta(days=1)
COLUMNS = (SlaDay.product, SlaDay.day, SlaDay.computed_at, SlaDay.mqls, SlaDay.accepted,
           SlaDay.rejected, SlaDay.first_attempts, SlaDay.durations, SlaDay.bands, SlaDay.clocks)


@dataclass
class Split:
    """Per product: the rolled-up days read and the bucket of each, and the live ranges."""

    days: dict = field(default_factory=dict)  # (product, day) -> bucket key
    live: dict = field(default_factory=dict)  # product -> [(start, end), ...] in UTC
    rows: list = field(default_factory=list)  # the SlaDay rows read
    zones: dict = field(default_factory=dict)  # product -> zone
    present: set = field(default_factory=set)  # (product, day) of every row in the span


def split(layout: Layout, zones: dict[str, str]) -> Split | None:
    """How to read `layout`; None when no day of it is rolled up (measure it all live)."""
    plan = {product: buckets for products, buckets in layout.parts
            for product in (products if products is not None else zones) if product in zones}
    if not plan:
        return None
    first = min(b.start.astimezone(ZoneInfo(zones[p])).date() for p, bs in plan.items() for b in bs)
    last = max(b.end.astimezone(ZoneInfo(zones[p])).date() for p, bs in plan.items() for b in bs)
    rows = db.session.execute(select(*COLUMNS).where(
        _rolled({p: zones[p] for p in plan}), SlaDay.day >= first, SlaDay.day <= last)).all()
    if not rows:
        return None
    out_live = {}
    if any(products is None for products, _ in layout.parts):
        # Products whose agreements are no longer in force have no zone and no SLA days.
        whole = [(b.start, b.end) for products, bs in layout.parts if products is None for b in bs]
        others = db.session.scalars(select(Agreement.product).distinct()
                                    .where(Agreement.product.not_in(list(zones))))
        out_live = {other: list(whole) for other in others}
    stale = touched_days(zones, min(r.computed_at for r in rows) - IN_FLIGHT)
    stored = {(r.product, r.day): r for r in rows if (r.product, r.day) not in stale}
    out = Split(live=out_live, zones={p: zones[p] for p in plan},
                present={(r.product, r.day) for r in rows})
    for product, buckets in plan.items():
        zone = zones[product]
        for bucket in buckets:
            # A local midnight is computed only where a run of rolled days starts or ends.
            live_from, previous = bucket.start, None
            for day in _days_inside(bucket.start, bucket.end, zone):
                row = stored.get((product, day))
                if row is None:
                    if previous is not None:
                        live_from, previous = local_midnight(previous + ONE_DAY, zone), None
                    continue
                if previous is None:
                    start = local_midnight(day, zone)
                    if start > live_from:
                        out.live.setdefault(product, []).append((live_from, start))
                out.days[(product, day)] = bucket.key
                out.rows.append(row)
                previous = day
            if previous is not None:
                live_from = local_midnight(previous + ONE_DAY, zone)
            if bucket.end > live_from:
                out.live.setdefault(product, []).append((live_from, bucket.end))
    return out


def _days_inside(start: datetime, end: datetime, zone: str):
    """The local days whose whole [midnight, next midnight) lies within [start, end)."""
    day = start.astimezone(ZoneInfo(zone)).date()
    if local_midnight(day, zone) < start:
        day += ONE_DAY
    after = end.astimezone(ZoneInfo(zone)).date()  # the first day not wholly inside
    if local_midnight(after, zone) > end:
        after -= ONE_DAY
    while day < after:
        yield day
        day += ONE_DAY


def marketing(sp: Split) -> dict[tuple, list[int]]:
    """(product, bucket) -> [MQLs, accepted, rejected] over the rolled days."""
    out: dict[tuple, list[int]] = {}
    for row in sp.rows:
        sums = out.setdefault((row.product, sp.days[(row.product, row.day)]), [0, 0, 0])
        sums[0], sums[1], sums[2] = sums[0] + row.mqls, sums[1] + row.accepted, \
            sums[2] + row.rejected
    return out


def _rolled(zones: dict[str, str], model=SlaDay):
    """Rows of these products rolled up in their current zone."""
    return tuple_(model.product, model.zone).in_(sorted(zones.items()))


def clock_outcomes(sp: Split) -> dict[tuple, list[int]]:
    """(product, bucket, kind) -> [clocks, met, breached] over the rolled days."""
    out: dict[tuple, list[int]] = {}
    for row in sp.rows:
        key = sp.days[(row.product, row.day)]
        figures = unpack(row.clocks)
        for n, kind in enumerate(CLOCK_KINDS):
            sums = out.setdefault((row.product, key, kind), [0, 0, 0])
            for i in range(3):
                sums[i] += figures[3 * n + i]
    return out


def breaches_by_owner(sp: Split, keys) -> dict[tuple, int]:
    """(owner_id, kind) -> breaches over the rolled days of buckets `keys`.

    One range scan over every row between the first and last such day, less the few rows
    in that range that are not to be read (touched days, days of other buckets or edges):
    cheaper than a condition per run of days on every row.
    """
    days = {pd for pd, key in sp.days.items() if key in keys}
    if not days:
        return {}
    first, last = min(d for _, d in days), max(d for _, d in days)
    excluded = sorted(pd for pd in sp.present - days if first <= pd[1] <= last)

    def sums(*conditions) -> dict[tuple, int]:
        stmt = (select(SlaDayClock.owner_id, SlaDayClock.kind, func.sum(SlaDayClock.breached))
                .where(_rolled(sp.zones, SlaDayClock), SlaDayClock.day >= first,
                       SlaDayClock.day <= last, SlaDayClock.breached > 0,
                       SlaDayClock.owner_id != 0, *conditions)
                .group_by(SlaDayClock.owner_id, SlaDayClock.kind))
        return {(owner, kind): int(n) for owner, kind, n in db.session.execute(stmt)}

    out = sums()
    for chunk in range(0, len(excluded), 500):
        pairs = tuple_(SlaDayClock.product, SlaDayClock.day).in_(excluded[chunk:chunk + 500])
        for key, n in sums(pairs).items():
            out[key] -= n
    return {key: n for key, n in out.items() if n}


class Durations:
    """Business seconds to first attempt (whole seconds) as sorted arrays: the stored days'
    and the live values; percentiles by bisection over them, never one big sort."""

    def __init__(self):
        self.parts: list = []
        self.rows = 0

    def add(self, values) -> None:
        """Another sorted run of values."""
        if len(values):
            self.parts.append(values)

    @property
    def timed(self) -> int:
        return sum(len(part) for part in self.parts)

    def merged(self) -> "Durations":
        """The same values as one sorted run (a C-level sort of sorted runs), so that a group
        built from several cells bisects a few runs rather than one per day."""
        if len(self.parts) > 1:
            self.parts = [array("i", sorted(chain.from_iterable(self.parts)))]
        return self

    def _at_most(self, value) -> int:
        return sum(bisect_right(part, value) for part in self.parts)

    def _kth(self, k: int) -> int:
        """The k-th smallest value (0-based): bisection over whole seconds."""
        if len(self.parts) == 1:
            return self.parts[0][k]
        lo, hi = min(p[0] for p in self.parts), max(p[-1] for p in self.parts)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._at_most(mid) > k:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def percentile(self, share: float) -> float | None:
        """As business_time.percentile (PostgreSQL's percentile_cont)."""
        n = self.timed
        if not n:
            return None
        position = share * (n - 1)
        low = int(position)
        a = self._kth(low)
        b = a if low + 1 >= n or self._at_most(a) > low + 1 else self._kth(low + 1)
        return a + (b - a) * (position - low)


def live_first_attempts(layout: Layout, sp: Split, cals, period_keys=(), outcome=False):
    """(product, bucket, seconds or None, won) of the first-attempt clocks in sp's live ranges."""
    if not sp.live:
        return []
    pop = first_attempts(layout, period_keys=period_keys, outcome=outcome, live=sp.live)
    rows = db.session.execute(select(pop.c.product, pop.c.bucket, pop.c.calendar_id,
                                     pop.c.started_at, pop.c.ended_at, pop.c.secs, pop.c.won))
    return [(product, key, seconds_of(cals, calendar_id, started, ended, secs), won)
            for product, key, calendar_id, started, ended, secs, won in rows]


def only(sp: Split, keys) -> Split:
    """The rolled days of `sp` in buckets `keys` (the live ranges unchanged)."""
    return Split(days={k: v for k, v in sp.days.items() if v in keys}, live=sp.live,
                 rows=[r for r in sp.rows if sp.days[(r.product, r.day)] in keys])


def timings(sp: Split, live_rows, sets, period_keys=(), percentiles=(0.5, 0.9),
            edges=SPEED_EDGES) -> dict[tuple, Timing]:
    """{(set number, *values): Timing}, as business_time.summarise, over the rolled days and
    `live_rows` ((product, bucket, seconds or None, won) per live first-attempt clock)."""
    width = len(edges) + 2
    # Per product and bucket first (each value counted once), then per grouping set.
    cells: dict[tuple, tuple[Durations, list]] = {}

    def cell(product, key):
        return cells.setdefault((product, key), (Durations(), [[0, 0] for _ in range(width)]))

    for row in sp.rows:
        durations, sums = cell(row.product, sp.days[(row.product, row.day)])
        durations.add(unpack(row.durations))
        durations.rows += row.first_attempts
        bands = unpack(row.bands)
        for i, total in enumerate(sums):
            total[0], total[1] = total[0] + bands[2 * i], total[1] + bands[2 * i + 1]
    live: dict[tuple, list] = {}
    for product, key, seconds, won in live_rows:
        durations, sums = cell(product, key)
        durations.rows += 1
        if seconds is not None:
            live.setdefault((product, key), []).append(round(seconds))
        band = sums[band_of(seconds, edges)]
        band[0], band[1] = band[0] + 1, band[1] + int(won or 0)
    for key, values in live.items():
        cells[key][0].add(array("i", sorted(values)))
    groups: dict[tuple, tuple[Durations, list]] = {}
    for (product, key), (durations, sums) in cells.items():
        if len(sets) > 1:
            durations.merged()
        values = {"product": product, "bucket": key, "in_period": int(key in period_keys)}
        for number, names in enumerate(sets):
            total, bands = groups.setdefault((number, *[values[k] for k in names]),
                                             (Durations(), [[0, 0] for _ in range(width)]))
            total.parts.extend(durations.parts)
            total.rows += durations.rows
            for band, (n, won) in zip(bands, sums, strict=True):
                band[0], band[1] = band[0] + n, band[1] + won
    return {ident: Timing(rows=d.rows, timed=d.timed,
                          percentiles={s: d.percentile(s) for s in percentiles},
                          bands=[tuple(b) for b in bands])
            for ident, (d, bands) in groups.items() if d.rows}
