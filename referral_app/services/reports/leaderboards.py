"""Leaderboards: the best and worst programs and reps by SQLs, opportunities and won deals.

Measured on the same cohort as the funnel (leads received in the period, followed to today),
so a board's counts add up to the funnel's. Rates are per lead of the program (or owned by
the rep); boards rank by rate, then count, and leave out anyone under `min_volume` leads so
one lucky lead does not top the board. Twelve lists: top and bottom × programs and reps ×
three measures. Aggregation is one grouped statement; only the aggregated rows (one per
program and rep) are ranked here.
"""
from dataclasses import dataclass, field

from referral_app.models import Program, User
from referral_app.services.reports import cohort_days
from referral_app.services.reports.common import fast_reads, names, rate
from referral_app.services.reports.funnel import StageCounts, stage_counts

MEASURES = ("sql", "opportunity", "won")
ENTITIES = ("programs", "reps")
ORDERS = ("top", "bottom")
DEFAULT_MIN_VOLUME, DEFAULT_LIMIT = 5, 5


@dataclass(frozen=True)
class Entry:
    id: int
    name: str
    leads: int
    count: int
    rate: float | None


@dataclass
class Leaderboards:
    period: object
    min_volume: int
    limit: int
    boards: dict = field(default_factory=dict)  # (entity, measure, order) -> [Entry]
    ranked: dict = field(default_factory=dict)  # entity -> how many met the minimum volume
    unranked: dict = field(default_factory=dict)  # entity -> how many were under it

    def board(self, entity: str, measure: str, order: str) -> list[Entry]:
        return self.boards.get((entity, measure, order), [])

    def lists(self):
        """The twelve lists in reading order: (entity, measure, order, entries)."""
        return [(e, m, o, self.board(e, m, o)) for e in ENTITIES for m in MEASURES for o in ORDERS]


GROUPS = ("program_id", "owner_id")


def _roll_up(rows: dict[tuple, StageCounts], index: int) -> dict[int, StageCounts]:
    """Sum (program, owner) groups to one of the two keys."""
    out: dict[int, StageCounts] = {}
    for key, counts in rows.items():
        ident = key[index]
        if ident is None:
            continue
        total = out.setdefault(ident, StageCounts())
        total.leads += counts.leads
        for stage in MEASURES:
            total.reached[stage] = total.reached.get(stage, 0) + counts.reached.get(stage, 0)
    return out


def rank(totals: dict[int, StageCounts], labels: dict[int, str], measure: str, order: str,
         min_volume: int, limit: int) -> list[Entry]:
    entries = [Entry(ident, labels.get(ident, f"#{ident}"), c.leads, c.count(measure),
                     rate(c.count(measure), c.leads))
               for ident, c in totals.items() if c.leads >= min_volume]
    sign = -1 if order == "top" else 1
    entries.sort(key=lambda e: (sign * (e.rate or 0), sign * e.count, e.name, e.id))
    return entries[:limit]


def leaderboards(period, min_volume: int = DEFAULT_MIN_VOLUME, limit: int = DEFAULT_LIMIT,
                 product: str | None = None) -> Leaderboards:
    """Rolled-up days (cohort_days) as they are, the rest measured from the leads."""
    fast_reads()
    plan = cohort_days.plan(period)
    live = period if plan is None else plan.live
    rows = stage_counts(live, group_by=GROUPS, product=product) if live is not None else {}
    totals = {"programs": _roll_up(rows, 0), "reps": _roll_up(rows, 1)}
    if plan is not None:
        for (grain, ident), counts in cohort_days.counts(plan, ("program", "owner"),
                                                         product=product).items():
            if ident:  # rep 0: leads nobody owns, not on a board
                entity = "programs" if grain == "program" else "reps"
                cohort_days.add(totals[entity], {ident: counts})
    labels = {"programs": names(Program, totals["programs"]),
              "reps": _people(totals["reps"])}
    result = Leaderboards(period=period, min_volume=min_volume, limit=limit)
    for entity in ENTITIES:
        result.ranked[entity] = sum(1 for c in totals[entity].values() if c.leads >= min_volume)
        result.unranked[entity] = len(totals[entity]) - result.ranked[entity]
        for measure in MEASURES:
            for order in ORDERS:
                result.boards[(entity, measure, order)] = rank(
                    totals[entity], labels[entity], measure, order, min_volume, limit)
    return result


def _people(ids) -> dict[int, str]:
    emails = names(User, ids, "email")
    return {i: name or emails.get(i, f"#{i}") for i, name in names(User, ids).items()}
