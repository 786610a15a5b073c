"""Both sides of the SLA, measured per product and month in the agreement calendar's zone."""
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from referral_app.extensions import db
from referral_app.models import (
    Agreement,
    MonthlyAttainment,
    User,
)
from referral_app.models.base import utcnow
from referral_app.services.notify import notify
from referral_app.services.reports import Period, sla_report
from referral_app.services.reports.periods import next_month
from referral_app.services.reports.sla_measures import CLOCK_KINDS
from referral_app.services.reports.sla_report import ClockStats


@dataclass
class MarketingSide:
    product: str
    month: date
    target: int
    delivered: int
    accepted: int
    min_acceptance_rate: Decimal
    days_in_month: int
    days_gone: float  # fractional days of the month elapsed in the calendar's zone
    closed: bool

    @property
    def prorated_target(self) -> float:
        return self.target * self.days_gone / self.days_in_month

    @property
    def pace(self) -> float | None:
        """Delivered against the pro-rated target: 1.0 is exactly on pace."""
        return self.delivered / self.prorated_target if self.prorated_target else None

    @property
    def pace_percent(self) -> int | None:
        """The pace as a whole percent, never rounded up to 100 while behind (35.96 of 36
        due must not read "100%" in the colour of a miss)."""
        if self.pace is None:
            return None
        return math.floor(self.pace * 100) if self.behind else round(self.pace * 100)

    @property
    def projected(self) -> int:
        """MQLs at month end if the pace so far holds."""
        if self.closed or not self.days_gone:
            return self.delivered
        return round(self.delivered * self.days_in_month / self.days_gone)

    @property
    def acceptance_rate(self) -> Decimal | None:
        return (Decimal(self.accepted) / self.delivered).quantize(Decimal("0.0001")) \
            if self.delivered else None

    @property
    def behind(self) -> bool:
        # Not before a whole day has gone: one quiet first hour is not a trend.
        return not self.closed and self.days_gone >= 1 and self.delivered < self.prorated_target

    @property
    def result(self) -> str:
        quality = self.acceptance_rate is None or self.acceptance_rate >= self.min_acceptance_rate
        return "met" if self.delivered >= self.target and quality else "missed"


def zone_of(agreement: Agreement) -> ZoneInfo:
    return ZoneInfo(agreement.calendar.timezone)


def month_of(at: datetime, zone: ZoneInfo) -> date:
    """The first day of the month `at` falls in, on the zone's wall clock."""
    return at.astimezone(zone).date().replace(day=1)


def month_bounds(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local month as UTC instants (DST shifts included)."""
    start = datetime(month.year, month.month, 1, tzinfo=zone)
    end_day = next_month(month)
    end = datetime(end_day.year, end_day.month, 1, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_figures(agreement: Agreement, month: date, now: datetime):
    """The product's row for `month` in the SLA report (reports.SlaRow), or None: rolled-up
    days plus the live rest, so the agreement page, the hourly job and the report show one
    set of numbers. MQLs delivered are qualifications (a lead recycled and qualified again
    counts again; one taken straight from new to sql was never delivered), accepted those the
    lead went on to sql from; clocks count in the month they started, a running clock past
    its due time as breached; time to first attempt is in the calendar's business hours."""
    return _month_rows(month, [agreement], now, product=agreement.product)[agreement.id]


def current_rows(agreements, now: datetime) -> dict[int, object]:
    """month_figures of each agreement's current month, by agreement id: one SLA report per
    distinct month (one, but around midnight between zones) instead of one per product."""
    by_month: dict[date, list[Agreement]] = {}
    for agreement in agreements:
        by_month.setdefault(month_of(now, zone_of(agreement)), []).append(agreement)
    out = {}
    for month, group in by_month.items():
        out.update(_month_rows(month, group, now))
    return out


def _month_rows(month: date, agreements: list, now: datetime, product: str | None = None):
    """The SLA report's row for `month` of each agreement's product, by agreement id (the
    report lays each product's months out in its own calendar's zone)."""
    period = Period(month, next_month(month) - timedelta(days=1),
                    agreements[0].calendar.timezone)
    found = {p.product: p for p in sla_report(period, now, product=product).products}
    return {a.id: found[a.product].months[0]
            if a.product in found and found[a.product].months else None for a in agreements}


_READ = object()


def sides(agreement: Agreement, month: date | None = None,
          now: datetime | None = None, row=_READ) -> tuple[MarketingSide, dict]:
    """Both sides of the agreement for a month (default: the current one in its zone);
    `row` is its month_figures when the caller read them already (current_rows)."""
    now, zone = now or utcnow(), zone_of(agreement)
    month = month or month_of(now, zone)
    if row is _READ:
        row = month_figures(agreement, month, now)
    start, end = month_bounds(month, zone)
    days = (next_month(month) - month).days
    gone = min(max((now - start) / (end - start), 0.0), 1.0) * days
    marketing = MarketingSide(
        product=agreement.product, month=month, target=agreement.monthly_qualified_leads,
        delivered=row.mqls if row else 0, accepted=row.accepted if row else 0,
        min_acceptance_rate=agreement.min_acceptance_rate, days_in_month=days, days_gone=gone,
        closed=now >= end)
    clocks = row.clocks if row else {kind: ClockStats() for kind in CLOCK_KINDS}
    compliance = {kind: {"met": stats.met, "breached": stats.breached, "rate": stats.compliance}
                  for kind, stats in clocks.items()}
    median = row.median_seconds if row else None
    sales = {"compliance": compliance, "attempted": row.timed if row else 0,
             "business_hours": True,
             "median_first_attempt": timedelta(seconds=median) if median is not None else None}
    return marketing, sales


def marketing_side(agreement: Agreement, month: date | None = None,
                   now: datetime | None = None) -> MarketingSide:
    """MQLs delivered in the month and accepted, against the target (see month_figures)."""
    return sides(agreement, month, now)[0]


def sales_side(agreement: Agreement, month: date | None = None,
               now: datetime | None = None) -> dict:
    """Clock compliance per kind (met ÷ decided) and the median business time from
    assignment to first attempt, for clocks started in the month (see month_figures)."""
    return sides(agreement, month, now)[1]


def _record(agreement: Agreement, side: MarketingSide, final: bool, now: datetime):
    row = db.session.scalar(select(MonthlyAttainment).where(
        MonthlyAttainment.product == side.product, MonthlyAttainment.month == side.month))
    if row is not None and row.result is not None:
        return row  # a closed month's result is final
    if row is None:
        row = MonthlyAttainment(product=side.product, month=side.month)
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
        except IntegrityError:  # another run recorded it first
            return None
    row.agreement_id, row.mqls, row.target = agreement.id, side.delivered, side.target
    row.accepted, row.computed_at = side.accepted, now
    if final:
        row.result = side.result
    db.session.flush()
    return row


def _tracked_since(product: str) -> datetime | None:
    return db.session.scalar(select(func.min(Agreement.effective_at)).where(
        Agreement.product == product, Agreement.status.in_(("in_force", "superseded"))))


def track(now: datetime | None = None) -> list[MarketingSide]:
    """Hourly: record each product's month so far, warn marketing when behind pace (once per
    product and local day), and close the previous month with its result once it has ended."""
    now = now or utcnow()
    agreements = db.session.scalars(select(Agreement).where(Agreement.status == "in_force")
                                    .order_by(Agreement.product)).all()
    seen = []
    marketers = db.session.scalars(select(User.id).where(User.role == "marketing",
                                                         User.active.is_(True))).all()
    for agreement in agreements:
        zone = zone_of(agreement)
        month = month_of(now, zone)
        previous = (month - timedelta(days=1)).replace(day=1)
        since = _tracked_since(agreement.product)
        if since is not None and since < month_bounds(previous, zone)[1]:
            _record(agreement, marketing_side(agreement, previous, now), True, now)
        side = marketing_side(agreement, month, now)
        _record(agreement, side, False, now)
        if side.behind:
            _warn(side, now.astimezone(zone).date(), marketers)
        seen.append(side)
    return seen


def _warn(side: MarketingSide, today: date, marketers) -> None:
    subject = f"{side.product}: MQLs behind pace ({side.delivered} of {side.target})"
    body = (f"{side.delivered} MQLs delivered for {side.product} so far in {side.month:%B %Y}, "
            f"against {side.prorated_target:.1f} expected by now. At this pace the month ends "
            f"at {side.projected} of {side.target}.")
    for user_id in marketers:
        notify("attainment.behind", subject, body, user_id=user_id,
               data={"product": side.product, "month": side.month.isoformat()},
               dedupe_key=f"pace:{side.product}:{today.isoformat()}:{user_id}")
