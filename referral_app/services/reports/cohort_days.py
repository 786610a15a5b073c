"""Cohort days: each local day's leads followed to today, rolled up so reports read days.

The funnel, the leaderboards and the rejection reasons follow the leads *received* in a
period. For every zone an agreement uses, each ended local day is rolled up into
cohort_days (per program and per rep) and closing_days (per program and reason). What
changes a lead's figures later (an event, a reward or a purchase written) marks it touched
(models.lead): readers measure its day live and the next pass recomputes it. A report
reads the rolled days of its period and measures only the rest from the leads
(LivePeriod: today, touched days, days not rolled up yet).
"""
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update

from referral_app.extensions import db
from referral_app.models import ClosingDay, CohortDay, Lead, Purchase, Reward
from referral_app.models.base import utcnow
from referral_app.services.reports.common import (
    COSTED_REWARD_STATUSES,
    MAIN_PATH,
    SIDE_EXITS,
    analyze_after_bulk,
    bucket_of,
    cohort,
    fast_reads,
    money_sum,
)
from referral_app.services.reports.funnel import StageCounts, stage_counts
from referral_app.services.reports.periods import Bucket, local_midnight, product_zones
from referral_app.services.reports.rollups import CHUNK_DAYS, IN_FLIGHT, due_days, local_days

MARK = "day"  # the grain of the row that says "this day is rolled up"
GRAINS = {"program": "program_id", "owner": "owner_id"}
REACHED = [getattr(CohortDay, f"reached_{s}") for s in MAIN_PATH]
ENTERED = [getattr(CohortDay, f"entered_{s}") for s in MAIN_PATH + SIDE_EXITS]
MEASURES = [CohortDay.leads, *REACHED, *ENTERED, CohortDay.won_value, CohortDay.purchases,
            CohortDay.revenue, CohortDay.reward_cost]


@dataclass(frozen=True)
class LivePeriod:
    """A period restricted to some UTC ranges of it (common.cohort reads `ranges`)."""

    period: object
    ranges: tuple

    def __getattr__(self, name):
        return getattr(self.period, name)


@dataclass
class Plan:
    """How to read a period: the rolled days (less `excluded`), and what is live."""

    zone: str
    first: date
    last: date
    excluded: list  # rolled-up days in [first, last] that were touched since
    live: LivePeriod | None

    def where(self, model):
        conditions = [model.zone == self.zone, model.day >= self.first, model.day <= self.last]
        if self.excluded:
            conditions.append(model.day.not_in(self.excluded))
        return conditions


def plan(period) -> Plan | None:
    """None when no day of the period is rolled up in its zone (measure it all live)."""
    zone = period.timezone
    rows = db.session.execute(select(CohortDay.day, CohortDay.computed_at).where(
        CohortDay.zone == zone, CohortDay.grain == MARK, CohortDay.day >= period.start,
        CohortDay.day <= period.end)).all()
    if not rows:
        return None
    stale = _touched(min(at for _, at in rows) - IN_FLIGHT, zone)
    rolled = sorted({day for day, _ in rows} - stale)
    if not rolled:
        return None
    ranges, day, run = [], period.start, None
    while day <= period.end:
        if day in rolled and run is not None:
            ranges.append((local_midnight(run, zone), local_midnight(day, zone)))
            run = None
        elif day not in rolled and run is None:
            run = day
        day += timedelta(days=1)
    if run is not None:
        ranges.append((local_midnight(run, zone), period.end_utc))
    excluded = sorted(d for d in stale if rolled[0] <= d <= rolled[-1])
    return Plan(zone, rolled[0], rolled[-1], excluded,
                LivePeriod(period, tuple(ranges)) if ranges else None)


def _touched(since: datetime, zone: str) -> set[date]:
    """The local days on which the leads touched at or after `since` were received."""
    return local_days(db.session.scalars(select(Lead.received_at)
                                         .where(Lead.touched_at >= since)), zone)


def counts(p: Plan, grains, program_id=None, product=None) -> dict[tuple, StageCounts]:
    """(grain, ident) -> StageCounts (with money) over the rolled days."""
    stmt = (select(CohortDay.grain, CohortDay.ident, *[func.sum(c) for c in MEASURES])
            .where(*p.where(CohortDay), CohortDay.grain.in_(grains))
            .group_by(CohortDay.grain, CohortDay.ident))
    if program_id is not None:
        stmt = stmt.where(CohortDay.grain == "program", CohortDay.ident == program_id)
    if product is not None:
        stmt = stmt.where(CohortDay.product == product)
    out = {}
    for grain, ident, leads, *rest in db.session.execute(stmt):
        reached = dict(zip(MAIN_PATH, rest[:4], strict=True))
        entered = dict(zip(MAIN_PATH + SIDE_EXITS, rest[4:11], strict=True))
        out[(grain, ident)] = StageCounts(
            leads=leads, reached={**reached, **{s: entered[s] for s in SIDE_EXITS}},
            entered=entered, won_value=money_sum(rest[11]), purchases=rest[12],
            purchase_revenue=money_sum(rest[13]), reward_cost=money_sum(rest[14]))
    return out


def closings(p: Plan, program_id=None, product=None) -> dict[tuple, int]:
    """(program_id, kind, reason) -> rejections or losses over the rolled days."""
    stmt = (select(ClosingDay.program_id, ClosingDay.kind, ClosingDay.reason,
                   func.sum(ClosingDay.n)).where(*p.where(ClosingDay))
            .group_by(ClosingDay.program_id, ClosingDay.kind, ClosingDay.reason))
    if program_id is not None:
        stmt = stmt.where(ClosingDay.program_id == program_id)
    if product is not None:
        stmt = stmt.where(ClosingDay.product == product)
    return {(p_id, kind, reason): int(n) for p_id, kind, reason, n in db.session.execute(stmt)}


def zones() -> list[str]:
    from referral_app.services.reports.periods import report_zone

    return sorted(set(product_zones().values()) | {report_zone()})


def roll_up(now: datetime) -> int:
    """Roll up every ended day (per zone) not yet rolled up or touched since its last pass;
    returns how many zone-days were written. Idempotent; the caller commits."""
    fast_reads()
    first_at = db.session.scalar(select(func.min(Lead.received_at)))
    if first_at is None:
        return 0
    written, stamp = 0, utcnow()
    for zone in zones():
        first = min(local_days([first_at], zone))
        last = min(local_days([now], zone)) - timedelta(days=1)
        stamps = dict(db.session.execute(select(CohortDay.day, CohortDay.computed_at).where(
            CohortDay.zone == zone, CohortDay.grain == MARK)).all())
        days = sorted(due_days(first, last, stamps, lambda since, z=zone: _touched(since, z)))
        for start in range(0, len(days), CHUNK_DAYS):
            written += _write(zone, days[start:start + CHUNK_DAYS], stamp)
        db.session.execute(update(CohortDay).where(CohortDay.zone == zone, CohortDay.grain == MARK)
                           .values(computed_at=stamp))
    db.session.flush()
    analyze_after_bulk(written, CohortDay.__tablename__)
    return written


def _write(zone: str, days: list[date], stamp: datetime) -> int:
    buckets = [Bucket(day.isoformat(), local_midnight(day, zone),
                      local_midnight(day + timedelta(days=1), zone)) for day in days]
    span = _Span(buckets[0].start, buckets[-1].end)
    rows: dict[tuple, StageCounts] = {}
    keys = ("bucket", "product", "program_id", "owner_id")
    for (key, product, program_id, owner_id), counts_ in stage_counts(
            span, group_by=keys, buckets=buckets).items():
        for grain, ident in (("program", program_id), ("owner", owner_id or 0)):
            rows.setdefault((key, product, grain, ident), []).append(counts_)
    for (key, product, program_id, owner_id), figures in _money(span, buckets).items():
        for grain, ident in (("program", program_id), ("owner", owner_id or 0)):
            rows.setdefault((key, product, grain, ident), []).append(figures)
    for model in (CohortDay, ClosingDay):
        db.session.execute(delete(model).where(model.zone == zone, model.day.in_(days)))
    records = [{"zone": zone, "day": day, "product": "", "grain": MARK, "ident": 0,
                "computed_at": stamp} for day in days]
    for (key, product, grain, ident), parts in rows.items():
        total = StageCounts.total(parts)
        records.append({
            "zone": zone, "day": date.fromisoformat(key), "product": product, "grain": grain,
            "ident": ident, "computed_at": stamp, "leads": total.leads,
            **{f"reached_{s}": total.reached.get(s, 0) for s in MAIN_PATH},
            **{f"entered_{s}": total.entered.get(s, 0) for s in MAIN_PATH + SIDE_EXITS},
            "won_value": total.won_value, "purchases": total.purchases,
            "revenue": total.purchase_revenue, "reward_cost": total.reward_cost})
    db.session.execute(insert(CohortDay), records)
    closing = _closings(span, buckets)
    if closing:
        db.session.execute(insert(ClosingDay), [
            {"zone": zone, "day": date.fromisoformat(key), "product": product,
             "program_id": program_id, "kind": kind, "reason": reason, "n": n}
            for (key, product, program_id, kind, reason), n in closing.items()])
    return len(days)


@dataclass(frozen=True)
class _Span:
    start_utc: datetime
    end_utc: datetime


def _money(span, buckets) -> dict[tuple, StageCounts]:
    """Per (bucket, product, program, owner): live purchases and reward cost, as StageCounts."""
    bucket = bucket_of(Lead.received_at, buckets)
    keys = (bucket, Lead.product, Lead.program_id, Lead.owner_id)
    out: dict[tuple, StageCounts] = {}
    bought = cohort(select(*keys, func.count(func.distinct(Purchase.referral_id)),
                           func.sum(Purchase.amount))
                    .join(Lead, Lead.referral_id == Purchase.referral_id)
                    .where(Purchase.refunded_at.is_(None)).group_by(*keys), span)
    for *key, n, amount in db.session.execute(bought):
        figures = out.setdefault(tuple(key), StageCounts())
        figures.purchases, figures.purchase_revenue = n, money_sum(amount)
    cost = cohort(select(*keys, func.sum(Reward.amount))
                  .join(Lead, Lead.referral_id == Reward.referral_id)
                  .where(Reward.status.in_(COSTED_REWARD_STATUSES), Reward.kind == "fixed")
                  .group_by(*keys), span)
    for *key, amount in db.session.execute(cost):
        out.setdefault(tuple(key), StageCounts()).reward_cost = money_sum(amount)
    return {key: value for key, value in out.items() if key[0] is not None}


def _closings(span, buckets) -> dict[tuple, int]:
    from referral_app.services.reports.rejections import _events

    events = _events(span, None, None, buckets=buckets).subquery()
    keys = (events.c.bucket, events.c.product, events.c.program_id, events.c.kind,
            events.c.reason)
    return {tuple(row[:5]): int(row[5]) for row in db.session.execute(
        select(*keys, func.count()).group_by(*keys)) if row[0] is not None}


def add(into: dict, more: dict) -> None:
    """Sum `more` (key -> StageCounts) into `into`."""
    for key, value in more.items():
        into[key] = StageCounts.total([into[key], value]) if key in into else value

