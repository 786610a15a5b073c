"""The SLA report: both sides of each product's agreement per month, the period and the trend.

Each product is read in its own agreement's zone, so its months start at its local midnight.
Months are clipped to the period; the trend is the six whole months ending with the period's
last month. Definitions are in sla_measures.
"""
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from referral_app.models import User
from referral_app.services.reports.common import (
    agreement_at,
    agreements_by_product,
    calendars,
    names,
    rate,
)
from referral_app.services.reports.periods import Bucket, product_zones
from referral_app.services.reports.sla_measures import (
    attempt_timing,
    breaches_by_owner,
    clock_outcomes,
    marketing,
)

CLOCK_KINDS = ("first_attempt", "attempt_limit", "decision")
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


def _measure(products, buckets, now, cals, versions) -> dict[tuple, SlaRow]:
    """(product, bucket key) -> SlaRow for non-overlapping buckets, in three statements."""
    rows: dict[tuple, SlaRow] = {}
    for product in products:
        for b in buckets:
            agreement = agreement_at(versions.get(product, []), b.start)
            rows[(product, b.key)] = SlaRow(
                b.key, b.start, b.end, partial=b.partial, in_progress=b.start <= now < b.end,
                closed=b.end <= now,
                target=round(agreement.monthly_qualified_leads * b.share) if agreement else None,
                min_acceptance=agreement.min_acceptance_rate if agreement else None)
    for key, (mqls, accepted, rejected) in marketing(buckets, products).items():
        if key in rows:
            rows[key].mqls, rows[key].accepted, rows[key].rejected = mqls, accepted, rejected
    for (product, bucket, kind), (n, met, breached) in clock_outcomes(buckets, now, products).items():
        if (product, bucket) in rows and kind in CLOCK_KINDS:
            rows[(product, bucket)].clocks[kind] = ClockStats(n, met, breached)
    for (product, bucket), timing in attempt_timing(buckets, now, cals, products=products).items():
        if (product, bucket) in rows:
            row = rows[(product, bucket)]
            row.timed = timing.timed
            row.median_seconds, row.p90_seconds = timing.percentiles[0.5], timing.percentiles[0.9]
    return rows


def sla_report(period, now: datetime, product: str | None = None) -> SlaReport:
    """Per product with an agreement in force (or just `product`): months, period, trend."""
    zones = product_zones()
    if product is not None:
        zones = {product: zones[product]} if product in zones else {}
    by_zone: dict[str, list[str]] = {}
    for name, zone in sorted(zones.items()):
        by_zone.setdefault(zone, []).append(name)
    versions, cals = agreements_by_product(), calendars()
    report = SlaReport(period=period)
    breaches: dict[int, dict[str, int]] = {}
    for zone, products in by_zone.items():
        local = period.in_zone(zone)
        months = local.months()
        whole = [Bucket("period", local.start_utc, local.end_utc)]
        # The trend ends with the month of the period's end, or with this month if earlier.
        trailing = local.trailing_months(TREND_MONTHS, until=now)
        extra = [b for b in trailing if b not in months]
        monthly = _measure(products, months, now, cals, versions)
        totals = _measure(products, whole, now, cals, versions)
        earlier = _measure(products, extra, now, cals, versions) if extra else {}
        for name in products:
            # The period's target: its months' targets (a clipped month's pro rata).
            targets = [monthly[(name, b.key)].target for b in months]
            totals[(name, "period")].target = sum(t for t in targets if t is not None) \
                if any(t is not None for t in targets) else None
            trend = [monthly.get((name, b.key)) if b in months else earlier[(name, b.key)]
                     for b in trailing]
            report.products.append(ProductSla(
                product=name, timezone=zone, agreement=(versions.get(name) or [None])[-1],
                months=[monthly[(name, b.key)] for b in months],
                total=totals[(name, "period")], trend=trend))
        for owner, kinds in breaches_by_owner(whole, now, products).items():
            for kind, n in kinds.items():
                breaches.setdefault(owner, {}).setdefault(kind, 0)
                breaches[owner][kind] += n
    labels = names(User, breaches)
    emails = names(User, breaches, "email")
    report.breaches = sorted(
        (Breaches(owner, labels.get(owner) or emails.get(owner, f"#{owner}"), kinds)
         for owner, kinds in breaches.items()),
        key=lambda b: (-b.total, b.name))
    return report
