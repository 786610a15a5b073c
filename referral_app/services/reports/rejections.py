"""Why sales turned leads down: rejection (and lost) reasons per program, with examples.

Same cohort as the funnel (leads received in the period), so a program's rejections add up
to the funnel's `rejected`. Examples are the three latest leads per reason, chosen in SQL
with a window function.
"""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from referral_app.extensions import db
from referral_app.models import Lead, LeadEvent, Program, Referral
from referral_app.services.reports.common import cohort, fast_reads, names, rate

KINDS = ("rejected", "lost")
EXAMPLES = 3
NO_REASON = "(no reason given)"


@dataclass(frozen=True)
class Example:
    lead_id: int
    at: datetime
    company: str | None
    note: str | None


@dataclass
class Reason:
    program_id: int
    program: str
    kind: str
    reason: str
    count: int
    share: float | None = None  # of the program's leads closed this way
    examples: list = field(default_factory=list)


@dataclass
class Rejections:
    period: object
    reasons: list = field(default_factory=list)

    def of(self, kind: str) -> list[Reason]:
        return [r for r in self.reasons if r.kind == kind]


def _events(period, program_id, product):
    reason = func.coalesce(func.nullif(func.trim(LeadEvent.reason), ""), NO_REASON)
    return cohort(
        select(Lead.program_id, LeadEvent.to_stage.label("kind"), reason.label("reason"),
               LeadEvent.lead_id, LeadEvent.at, LeadEvent.id.label("event_id"),
               LeadEvent.data["note"].as_string().label("note"),
               Referral.referee_company.label("company"))
        .join(LeadEvent, LeadEvent.lead_id == Lead.id)
        .join(Referral, Referral.id == Lead.referral_id)
        .where(LeadEvent.kind == "stage", LeadEvent.to_stage.in_(KINDS)),
        period, program_id, product).subquery("closings")


def rejections(period, program=None, product: str | None = None) -> Rejections:
    fast_reads()
    events = _events(period, program.id if program is not None else None, product)
    group = (events.c.program_id, events.c.kind, events.c.reason)
    counts = db.session.execute(select(*group, func.count()).group_by(*group)).all()
    ranked = select(events, func.row_number().over(
        partition_by=group, order_by=(events.c.at.desc(), events.c.event_id.desc())).label("rn")
    ).subquery("ranked")
    examples: dict[tuple, list[Example]] = {}
    for row in db.session.execute(select(ranked).where(ranked.c.rn <= EXAMPLES)
                                  .order_by(ranked.c.rn)).mappings():
        examples.setdefault((row["program_id"], row["kind"], row["reason"]), []).append(
            Example(row["lead_id"], row["at"], row["company"], row["note"]))
    totals: dict[tuple, int] = {}
    for program_id, kind, _, n in counts:
        totals[(program_id, kind)] = totals.get((program_id, kind), 0) + n
    labels = names(Program, {row[0] for row in counts})
    reasons = [Reason(p, labels.get(p, f"#{p}"), kind, reason, n, rate(n, totals[(p, kind)]),
                      examples.get((p, kind, reason), []))
               for p, kind, reason, n in counts]
    reasons.sort(key=lambda r: (r.program, KINDS.index(r.kind), -r.count, r.reason))
    return Rejections(period=period, reasons=reasons)
