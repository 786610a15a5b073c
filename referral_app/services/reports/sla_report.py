"""The SLA report: both sides of each product's agreement per month, the period and the trend.

Each product is read in its own agreement's zone, so its months start at its local midnight.
Months are clipped to the period; the trend is the six months ending with the period's last
month (or this month, if earlier): whole months before the period, then the period's own.
Definitions are in sla_measures.
"""
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from referral_app.models import User
from referral_app.services.reports import rolled
from referral_app.services.reports.common import (
    agreement_at,
    agreements_by_product,
    calendars,
    fast_reads,
    names,
    rate,
)
from referral_app.services.reports.periods import product_zones
from referral_app.services.reports.sla_measures import (
    CLOCK_KINDS,
    Layout,
    attempt_timing,
    clock_outcomes,
    marketing,
)

TREND_MONTHS = 6


@dataclass
class ClockStats:
    clocks: int = 0
    met: int = 0
    breached: int = 0

    @property
    def pending(self) -> int:
        return self.clocks - self.met - self.breached

    @property
    def compliance(self) -> float | None:
        return rate(self.met, self.met + self.breached)


@dataclass
class SlaRow:
    """One product over one month (or the whole period): both sides of the agreement."""

    key: str
    start: datetime
    end: datetime
    partial: bool = False
    in_progress: bool = False  # the month has started and not ended yet
    closed: bool = True  # it has ended: only then is a target met or missed
    target: int | None = None
    min_acceptance: Decimal | None = None
    mqls: int = 0
    accepted: int = 0
    rejected: int = 0
    clocks: dict = field(default_factory=lambda: {k: ClockStats() for k in CLOCK_KINDS})
    timed: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None

    @property
    def attainment(self) -> float | None:
        return rate(self.mqls, self.target)

    @property
    def acceptance_rate(self) -> float | None:
        return rate(self.accepted, self.mqls)

    @property
    def volume_met(self) -> bool | None:
        return None if not self.target or not self.closed else self.mqls >= self.target

    @property
    def quality_met(self) -> bool | None:
        if self.acceptance_rate is None or self.min_acceptance is None or not self.closed:
            return None
        return self.acceptance_rate >= float(self.min_acceptance)


@dataclass
class ProductSla:
    product: str
    timezone: str
    agreement: object
    months: list = field(default_factory=list)
    total: SlaRow | None = None
    trend: list = field(default_factory=list)


@dataclass
class Breaches:
    owner_id: int
    name: str
    by_kind: dict

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


@dataclass
class SlaReport:
    period: object
    products: list = field(default_factory=list)
    breaches: list = field(default_factory=list)


def _layout(period, zones: dict[str, str], now):
    """The Layout of every product (its zone's months), the period's month keys, and each
    product's trend keys: the trend ends with the month `now` is in (when that comes before
    the period's last), which differs between zones around a month's end."""
    by_zone: dict[str, list[str]] = {}
    for name, zone in sorted(zones.items()):
        by_zone.setdefault(zone, []).append(name)
    parts, period_keys, trend_keys = [], [], {}
    for zone, products in by_zone.items():
        local = period.in_zone(zone)
        months = local.months()
        trailing = local.trailing_months(TREND_MONTHS, until=now)
        # Trend months wholly before the period; the others are the period's own (clipped).
        before = [b for b in trailing if b.end <= months[0].start]
        parts.append((tuple(products), tuple(before + months)))
        period_keys = [b.key for b in months]  # the period's dates: alike in every zone
        trend_keys.update(dict.fromkeys(products, [b.key for b in trailing]))
    return Layout(tuple(parts)), period_keys, trend_keys


def _rows(layout, now, versions) -> dict[tuple, SlaRow]:
    rows = {}
    for products, buckets in layout.parts:
        for product in products:
            for b in buckets:
                agreement = agreement_at(versions.get(product, []), b.start)
                rows[(product, b.key)] = SlaRow(
                    b.key, b.start, b.end, partial=b.partial, in_progress=b.start <= now < b.end,
                    closed=b.end <= now,
                    target=round(agreement.monthly_qualified_leads * b.share) if agreement else None,
                    min_acceptance=agreement.min_acceptance_rate if agreement else None)
    return rows


def _total(months: list[SlaRow], timing) -> SlaRow:
    """The period of one product: counts are the sum of its months; timing is its own."""
    total = SlaRow("period", months[0].start, months[-1].end,
                   in_progress=any(m.in_progress for m in months),
                   closed=all(m.closed for m in months), min_acceptance=months[0].min_acceptance)
    targets = [m.target for m in months if m.target is not None]
    total.target = sum(targets) if targets else None
    for m in months:
        total.mqls, total.accepted, total.rejected = (
            total.mqls + m.mqls, total.accepted + m.accepted, total.rejected + m.rejected)
        for kind, stats in m.clocks.items():
            t = total.clocks[kind]
            t.clocks, t.met, t.breached = t.clocks + stats.clocks, t.met + stats.met, \
                t.breached + stats.breached
    if timing is not None:
        total.timed = timing.timed
        total.median_seconds, total.p90_seconds = timing.percentiles[0.5], timing.percentiles[0.9]
    return total


def _timings(layout, sp, now, period_keys) -> dict:
    """Time to first attempt only for the period's months (the costliest measure: the trend
    shows volumes and compliance), per month and for the whole period in one pass."""
    sets = (("product", "bucket"), ("product", "in_period"))
    cals = calendars()
    own = Layout(tuple((products, tuple(b for b in buckets if b.key in period_keys))
                       for products, buckets in layout.parts))
    if sp is not None:
        live_rows = rolled.live_first_attempts(own, sp, cals)
        return rolled.timings(rolled.only(sp, period_keys), live_rows, sets, period_keys)
    return attempt_timing(own, now, cals, sets=sets, period_keys=period_keys)


def sla_report(period, now: datetime, product: str | None = None) -> SlaReport:
    """Per product with an agreement in force (or just `product`): months, period, trend.

    A handful of statements, whatever the number of products, zones and days.
    """
    fast_reads()
    zones = product_zones()
    if product is not None:
        zones = {product: zones[product]} if product in zones else {}
    report = SlaReport(period=period)
    if not zones:
        return report
    versions = agreements_by_product()
    layout, period_keys, trend_keys = _layout(period, zones, now)
    rows = _rows(layout, now, versions)
    # Settled days come rolled up (reports.rolled); only the rest is measured from rows.
    sp = rolled.split(layout, zones)
    live = sp.live if sp is not None else None
    mql = {key: list(figures) for key, figures in marketing(layout, live=live).items()}
    for key, figures in (rolled.marketing(sp) if sp is not None else {}).items():
        mql[key] = [a + b for a, b in zip(mql.get(key, (0, 0, 0)), figures, strict=True)]
    for key, (mqls, accepted, rejected) in mql.items():
        if key in rows:
            rows[key].mqls, rows[key].accepted, rows[key].rejected = mqls, accepted, rejected
    breaches: dict[int, dict[str, int]] = {}
    group = ("product", "bucket", "kind", "owner_id")
    outcomes = list(clock_outcomes(layout, now, group=group, live=live).items())
    if sp is not None:
        outcomes += [((name, bucket, kind, None), figures)
                     for (name, bucket, kind), figures in rolled.clock_outcomes(sp).items()]
        for (owner, kind), late in rolled.breaches_by_owner(sp, period_keys).items():
            breaches.setdefault(owner, {}).setdefault(kind, 0)
            breaches[owner][kind] += late
    for (name, bucket, kind, owner), (n, met, late) in outcomes:
        if kind not in CLOCK_KINDS:
            continue
        if (name, bucket) in rows:
            stats = rows[(name, bucket)].clocks[kind]
            stats.clocks, stats.met, stats.breached = stats.clocks + n, stats.met + met, \
                stats.breached + late
        if late and owner is not None and bucket in period_keys:
            breaches.setdefault(owner, {}).setdefault(kind, 0)
            breaches[owner][kind] += late
    timings = _timings(layout, sp, now, period_keys)
    for (number, name, value), timing in timings.items():
        if number == 0 and (name, value) in rows:
            row = rows[(name, value)]
            row.timed = timing.timed
            row.median_seconds, row.p90_seconds = timing.percentiles[0.5], timing.percentiles[0.9]
    for name in sorted(zones):
        months = [rows[(name, key)] for key in period_keys]
        report.products.append(ProductSla(
            product=name, timezone=zones[name], agreement=(versions.get(name) or [None])[-1],
            months=months, total=_total(months, timings.get((1, name, 1))),
            trend=[rows[(name, key)] for key in trend_keys[name]]))
    labels, emails = names(User, breaches), names(User, breaches, "email")
    report.breaches = sorted(
        (Breaches(owner, labels.get(owner) or emails.get(owner, f"#{owner}"), kinds)
         for owner, kinds in breaches.items()),
        key=lambda b: (-b.total, b.name))
    return report
