"""Speed and outcome: how often a lead is won, by how fast sales first tried to reach it.

The leads whose first-attempt clock started in the period (assigned then), banded by the
business hours from assignment to the first attempt: under 1, 1–5, 5–24, 24 and more, and
those never attempted. Conversion is the share of each band's leads that are won today.
"""
from dataclasses import dataclass, field
from datetime import datetime

from referral_app.services.reports import rolled
from referral_app.services.reports.common import calendars, fast_reads, rate
from referral_app.services.reports.periods import Bucket, product_zones
from referral_app.services.reports.sla_measures import SPEED_EDGES, Layout, attempt_timing

BAND_LABELS = ("Under 1 business hour", "1–5 business hours", "5–24 business hours",
               "24 business hours or more", "No attempt yet")


@dataclass(frozen=True)
class Band:
    label: str
    leads: int
    won: int

    @property
    def conversion(self) -> float | None:
        return rate(self.won, self.leads)


@dataclass
class Speed:
    period: object
    bands: list = field(default_factory=list)
    median_seconds: float | None = None

    @property
    def leads(self) -> int:
        return sum(b.leads for b in self.bands)


def speed(period, now: datetime, program=None, product: str | None = None,
          owner_id: int | None = None) -> Speed:
    fast_reads()
    whole = Layout.single([Bucket("period", period.start_utc, period.end_utc)],
                          products=[product] if product else None)
    # Rolled-up days hold every clock; a program's or a rep's figures are measured from rows.
    sp = rolled.split(whole, product_zones()) if program is None and owner_id is None else None
    if sp is not None:
        live_rows = rolled.live_first_attempts(whole, sp, calendars(), outcome=True)
        timings = rolled.timings(sp, live_rows, sets=((),), edges=SPEED_EDGES)
    else:
        timings = attempt_timing(whole, now, calendars(), sets=((),),
                                 program_id=program.id if program is not None else None,
                                 owner_id=owner_id, edges=SPEED_EDGES)
    timing = timings.get((0,))
    bands = timing.bands if timing else [(0, 0)] * len(BAND_LABELS)
    return Speed(period=period, bands=[Band(label, n, won) for label, (n, won)
                                       in zip(BAND_LABELS, bands, strict=True)],
                 median_seconds=timing.percentiles.get(0.5) if timing else None)
