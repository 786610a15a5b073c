"""Why sales turned leads down: rejection (and lost) reasons per program, with examples.

Same cohort as the funnel (leads received in the period), so a program's rejections add up
to the funnel's `rejected`. Examples are the three latest leads per reason, each group's
found by a short backward scan of its kind's events (LATERAL ... LIMIT).
"""
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Integer, String, column, func, select, true, values

from referral_app.extensions import db
from referral_app.models import Lead, LeadEvent, Program, Referral
from referral_app.services.reports import cohort_days
from referral_app.services.reports.common import bucket_of, cohort, fast_reads, names, rate

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


def _events(period, program_id, product, buckets=None):
    """The cohort's closing events, narrow (no referral, no JSON): what is counted; with
    `buckets`, the bucket of each lead's arrival and its product (cohort_days)."""
    label = func.coalesce(func.nullif(func.trim(LeadEvent.reason), ""), NO_REASON)
    extra = [Lead.product, bucket_of(Lead.received_at, buckets).label("bucket")] if buckets else []
    return cohort(
        select(Lead.program_id, LeadEvent.to_stage.label("kind"), label.label("reason"),
               LeadEvent.lead_id, LeadEvent.at, LeadEvent.id.label("event_id"), *extra)
        .join(LeadEvent, LeadEvent.lead_id == Lead.id)
        .where(LeadEvent.kind == "stage", LeadEvent.to_stage.in_(KINDS)),
        period, program_id, product)


def rejections(period, program=None, product: str | None = None) -> Rejections:
    fast_reads()
    program_id = program.id if program is not None else None
    plan = cohort_days.plan(period)
    live = period if plan is None else plan.live
    counts = cohort_days.closings(plan, program_id, product) if plan is not None else {}
    if live is not None:  # the days not rolled up (cohort_days), from the events
        events = _events(live, program_id, product).subquery()
        group = (events.c.program_id, events.c.kind, events.c.reason)
        for *key, n in db.session.execute(select(*group, func.count()).group_by(*group)):
            counts[tuple(key)] = counts.get(tuple(key), 0) + n
    examples = _examples(period, product, counts)
    totals: dict[tuple, int] = {}
    for (program_id, kind, _), n in counts.items():
        totals[(program_id, kind)] = totals.get((program_id, kind), 0) + n
    labels = names(Program, {key[0] for key in counts})
    reasons = [Reason(p, labels.get(p, f"#{p}"), kind, reason, n, rate(n, totals[(p, kind)]),
                      examples.get((p, kind, reason), []))
               for (p, kind, reason), n in counts.items()]
    reasons.sort(key=lambda r: (r.program, KINDS.index(r.kind), -r.count, r.reason))
    return Rejections(period=period, reasons=reasons)


def _examples(period, product, groups) -> dict[tuple, list[Example]]:
    """The latest EXAMPLES events of each (program, kind, reason): per group, a backward scan
    of that kind's events by time that stops at the third match (a LATERAL ... LIMIT), so
    the cost follows the groups shown, not the events counted."""
    if not groups:
        return {}
    if db.engine.dialect.name != "postgresql":
        return _examples_ranked(period, product)
    wanted = values(column("program_id", Integer), column("kind", String),
                    column("reason", String), name="wanted").data(sorted(groups))
    label = func.coalesce(func.nullif(func.trim(LeadEvent.reason), ""), NO_REASON)
    latest = cohort(
        select(LeadEvent.lead_id, LeadEvent.at, LeadEvent.id.label("event_id"),
               LeadEvent.data["note"].as_string().label("note"),
               Referral.referee_company.label("company"))
        .join(Lead, Lead.id == LeadEvent.lead_id)
        .join(Referral, Referral.id == Lead.referral_id)
        .where(LeadEvent.kind == "stage", LeadEvent.to_stage == wanted.c.kind,
               label == wanted.c.reason, Lead.program_id == wanted.c.program_id)
        .order_by(LeadEvent.at.desc(), LeadEvent.id.desc()).limit(EXAMPLES),
        period, product=product).lateral("latest")
    out: dict[tuple, list[Example]] = {}
    stmt = select(wanted, latest).select_from(wanted.join(latest, true()))
    for row in db.session.execute(stmt).mappings():
        out.setdefault((row["program_id"], row["kind"], row["reason"]), []).append(
            Example(row["lead_id"], row["at"], row["company"], row["note"]))
    for items in out.values():
        items.sort(key=lambda e: e.at, reverse=True)
    return out


def _examples_ranked(period, product) -> dict[tuple, list[Example]]:
    """The same, ranking every closing event (SQLite has no LATERAL; its data sets are small)."""
    events = _events(period, None, product).subquery()
    group = (events.c.program_id, events.c.kind, events.c.reason)
    ranked = select(events, func.row_number().over(
        partition_by=group, order_by=(events.c.at.desc(), events.c.event_id.desc())).label("rn")
    ).subquery("ranked")
    stmt = (select(ranked, LeadEvent.data["note"].as_string().label("note"),
                   Referral.referee_company.label("company"))
            .join(LeadEvent, LeadEvent.id == ranked.c.event_id)
            .join(Lead, Lead.id == ranked.c.lead_id)
            .join(Referral, Referral.id == Lead.referral_id)
            .where(ranked.c.rn <= EXAMPLES).order_by(ranked.c.rn))
    out: dict[tuple, list[Example]] = {}
    for row in db.session.execute(stmt).mappings():
        out.setdefault((row["program_id"], row["kind"], row["reason"]), []).append(
            Example(row["lead_id"], row["at"], row["company"], row["note"]))
    return out
