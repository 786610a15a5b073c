"""A rep's own numbers: first-attempt compliance, speed, conversion and breaches.

The same definitions as the team reports, restricted to the rep: leads they own that were
received in the period, and SLA clocks they held that started in the period.
"""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from referral_app.extensions import db
from referral_app.models import Lead, SlaClock
from referral_app.services.reports.common import calendars, fast_reads, rate
from referral_app.services.reports.funnel import StageCounts, stage_counts
from referral_app.services.reports.periods import Bucket
from referral_app.services.reports.sla_measures import (
    CLOCK_KINDS,
    Layout,
    attempt_timing,
    clock_outcomes,
)
from referral_app.services.reports.sla_report import ClockStats

RECENT_BREACHES = 20


@dataclass
class MyNumbers:
    period: object
    counts: StageCounts = field(default_factory=StageCounts)
    clocks: dict = field(default_factory=lambda: {k: ClockStats() for k in CLOCK_KINDS})
    timed: int = 0
    median_seconds: float | None = None
    p90_seconds: float | None = None
    recent_breaches: list = field(default_factory=list)  # SlaClock rows, newest first

    def conversion(self, stage: str):
        return rate(self.counts.count(stage), self.counts.leads)

    @property
    def breaches(self) -> int:
        return sum(stats.breached for stats in self.clocks.values())


def my_numbers(period, user_id: int, now: datetime) -> MyNumbers:
    fast_reads()
    bucket = Bucket("period", period.start_utc, period.end_utc)
    whole = Layout.single([bucket])
    result = MyNumbers(period=period)
    result.counts = stage_counts(period, owner_id=user_id).get((), StageCounts())
    for (kind,), (n, met, breached) in clock_outcomes(whole, now, owner_id=user_id,
                                                      group=("kind",)).items():
        if kind in CLOCK_KINDS:
            result.clocks[kind] = ClockStats(n, met, breached)
    timing = attempt_timing(whole, now, calendars(), sets=((),), owner_id=user_id).get((0,))
    if timing is not None:
        result.timed = timing.timed
        result.median_seconds = timing.percentiles[0.5]
        result.p90_seconds = timing.percentiles[0.9]
    overdue = (SlaClock.status == "running") & (SlaClock.due_at < now)
    result.recent_breaches = db.session.scalars(
        select(SlaClock).where(SlaClock.owner_id == user_id,
                               SlaClock.started_at >= bucket.start,
                               SlaClock.started_at < bucket.end,
                               or_(SlaClock.status == "breached", overdue))
        .order_by(SlaClock.due_at.desc()).limit(RECENT_BREACHES)
        .options(joinedload(SlaClock.lead).joinedload(Lead.referral))).all()  # names, one read
    return result
