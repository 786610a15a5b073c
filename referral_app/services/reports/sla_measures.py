"""The SLA's measurements in SQL: MQLs delivered and accepted, clock outcomes, attempt speed.

Definitions (both teams read the same ones, in the SLA report and the interlock pack):
- MQL delivered in a month: a qualification, i.e. a stage event into `mql`, then (a lead
  sales accepted straight from `new` was not qualified by marketing). A lead re-qualified
  after recycling counts again, so any period's deliveries are the sum of its days'.
- Accepted / rejected: that lead went into `sql` / `rejected` at or after that event.
- A clock is counted in the month it started (assignment for first_attempt). Compliance is
  met / (met + breached); a running clock past its due time counts as breached even before
  the sweep marks it; cancelled clocks (the lead closed first) count for neither.
- Time to first attempt: the first_attempt clock's start to its met_at (the first attempt,
  recorded even when late), in business hours of the agreement's calendar.

Each measure is one statement for every product, whatever its zone: a Layout maps each
product to its own month boundaries (per-product CASE), so months start at local midnight.
`live` ({product: [(start, end), ...]}) restricts a measure to those UTC ranges: the days
that are not read from the rolled-up SLA days (reports.rolled).
"""
from dataclasses import dataclass

from sqlalchemy import Integer, and_, case, cast, false, func, literal, or_, select, text
from sqlalchemy.orm import aliased

from referral_app.extensions import db
from referral_app.models import Agreement, Lead, LeadEvent, SlaClock
from referral_app.models.sla import UNMEASURED
from referral_app.services.reports.business_time import summarise
from referral_app.services.reports.common import bucket_of, count_if, flag

# The reports' order of the clock kinds: day roll-ups store their sums packed in this order.
CLOCK_KINDS = ("first_attempt", "attempt_limit", "decision")
SPEED_EDGES = (3600, 5 * 3600, 24 * 3600)  # business seconds: <1 h, 1–5 h, 5–24 h, 24 h+


@dataclass(frozen=True)
class Layout:
    """Buckets per group of products: ((products, or None for every product, buckets), ...)."""

    parts: tuple

    @classmethod
    def single(cls, buckets, products=None) -> "Layout":
        return cls(((tuple(products) if products else None, tuple(buckets)),))

    @property
    def span(self):
        return (min(b.start for _, bs in self.parts for b in bs),
                max(b.end for _, bs in self.parts for b in bs))

    @property
    def products(self) -> list[str] | None:
        if any(products is None for products, _ in self.parts):
            return None
        return [p for products, _ in self.parts for p in products]

    def bucket(self, column, product=Lead.product):
        """The bucket key of `column`, with the boundaries of the row's product."""
        if len(self.parts) == 1:
            return bucket_of(column, self.parts[0][1])
        return case(*[(product.in_(products), bucket_of(column, buckets))
                      for products, buckets in self.parts], else_=None)


def within(column, product, live: dict) -> object:
    """`column` falls in one of its product's live [start, end) ranges."""
    return or_(false(), *[and_(product == name, column >= start, column < end)
                          for name, ranges in sorted(live.items()) for start, end in ranges])


def _scope(stmt, layout: Layout, program_id=None, owner_column=None, owner_id=None,
           product=Lead.product, live=None, column=None):
    if live is not None:
        stmt = stmt.where(within(column, product, live))
    if layout.products is not None:
        stmt = stmt.where(product.in_(layout.products))
    if program_id is not None:
        stmt = stmt.where(Lead.program_id == program_id)
    if owner_id is not None:
        stmt = stmt.where(owner_column == owner_id)
    return stmt


def marketing(layout: Layout, live=None) -> dict[tuple, tuple[int, int, int]]:
    """(product, bucket) -> (MQLs delivered, accepted, rejected)."""
    lo, hi = layout.span
    qualifying = and_(LeadEvent.kind == "stage", LeadEvent.to_stage == "mql")
    # Accepted / rejected: joined to the lead's sql / rejected events at or after its MQL event
    # (range scans of ix_lead_events_to_at, hash joins); duplicates vanish in COUNT DISTINCT.
    accepted, rejected = aliased(LeadEvent), aliased(LeadEvent)
    inner = _scope(
        select(Lead.product, layout.bucket(LeadEvent.at).label("bucket"),
               LeadEvent.id.label("event_id"),
               case((accepted.lead_id.is_not(None), LeadEvent.id)).label("accepted"),
               case((rejected.lead_id.is_not(None), LeadEvent.id)).label("rejected"))
        .join(Lead, Lead.id == LeadEvent.lead_id)
        .outerjoin(accepted, and_(accepted.lead_id == LeadEvent.lead_id, accepted.to_stage == "sql",
                                  accepted.at >= LeadEvent.at, accepted.at >= lo))
        .outerjoin(rejected, and_(rejected.lead_id == LeadEvent.lead_id,
                                  rejected.to_stage == "rejected", rejected.at >= LeadEvent.at,
                                  rejected.at >= lo))
        .where(qualifying, LeadEvent.at >= lo, LeadEvent.at < hi), layout,
        live=live, column=LeadEvent.at).subquery()
    distinct = func.count(func.distinct(inner.c.event_id))
    stmt = (select(inner.c.product, inner.c.bucket, distinct,
                   func.count(func.distinct(inner.c.accepted)),
                   func.count(func.distinct(inner.c.rejected)))
            .where(inner.c.bucket.is_not(None)).group_by(inner.c.product, inner.c.bucket))
    return {(p, b): (n, a, r) for p, b, n, a, r in db.session.execute(stmt)}


def clock_outcomes(layout: Layout, now, owner_id=None, group=("product", "bucket", "kind"),
                   live=None) -> dict[tuple, tuple[int, int, int]]:
    """group key -> (clocks, met, breached) for clocks started in the buckets."""
    lo, hi = layout.span
    breached = or_(SlaClock.status == "breached",
                   and_(SlaClock.status == "running", SlaClock.due_at < now))
    # The product comes from the clock's agreement (a handful of rows), not from its lead.
    inner = _scope(
        select(Agreement.product, layout.bucket(SlaClock.started_at, Agreement.product)
               .label("bucket"), SlaClock.kind, SlaClock.owner_id,
               flag(SlaClock.status == "met").label("met"), flag(breached).label("breached"))
        .join(Agreement, Agreement.id == SlaClock.agreement_id)
        .where(SlaClock.started_at >= lo, SlaClock.started_at < hi,
               SlaClock.status != "cancelled"),
        layout, owner_column=SlaClock.owner_id, owner_id=owner_id,
        product=Agreement.product, live=live, column=SlaClock.started_at).subquery()
    keys = [inner.c[name] for name in group]
    stmt = (select(*keys, func.count(), count_if(inner.c.met == 1), count_if(inner.c.breached == 1))
            .where(inner.c.bucket.is_not(None)).group_by(*keys))
    return {tuple(row[:-3]): tuple(int(v) for v in row[-3:]) for row in db.session.execute(stmt)}


def first_attempts(layout: Layout, program_id=None, owner_id=None, period_keys=(),
                   outcome: bool = False, live=None):
    """The first_attempt clocks started in the buckets, as business_time wants them; the
    lead is joined only when its outcome (won) or its program is asked for."""
    lo, hi = layout.span
    bucket = layout.bucket(SlaClock.started_at, Agreement.product)
    in_period = case((bucket.in_(period_keys), 1), else_=0) if period_keys else literal(0)
    won = cast(flag(Lead.stage == "won"), Integer) if outcome else literal(0)
    stmt = (select(Agreement.product, SlaClock.owner_id, bucket.label("bucket"),
                   in_period.label("in_period"), Agreement.calendar_id, SlaClock.started_at,
                   SlaClock.met_at.label("ended_at"), won.label("won"),
                   SlaClock.business_seconds.label("secs"))
            .join(Agreement, Agreement.id == SlaClock.agreement_id)
            .where(SlaClock.kind == "first_attempt", SlaClock.status != "cancelled",
                   SlaClock.started_at >= lo, SlaClock.started_at < hi, bucket.is_not(None)))
    if outcome or program_id is not None:
        stmt = stmt.join(Lead, Lead.id == SlaClock.lead_id)
    return _scope(stmt, layout, program_id, SlaClock.owner_id, owner_id,
                  product=Agreement.product, live=live,
                  column=SlaClock.started_at).subquery("first_attempts")


def attempt_timing(layout: Layout, now, calendars, sets=(("product", "bucket"),),
                   program_id=None, owner_id=None, edges=(), period_keys=()):
    """(set number, *values) -> Timing, for each grouping set (e.g. per month and per period)."""
    pop = first_attempts(layout, program_id, owner_id, period_keys, outcome=bool(edges))
    lo, hi = layout.span
    return summarise(pop, [list(s) for s in sets], calendars, (lo, max(hi, now)), edges=edges,
                     stored=all_measured(lo, hi))


def all_measured(lo, hi) -> bool:
    """Whether every first attempt met among clocks started in [lo, hi) has its duration
    stored (rows from before the column are measured the slow way; a tiny partial index)."""
    missing = select(SlaClock.id).where(text(UNMEASURED), SlaClock.started_at >= lo,
                                        SlaClock.started_at < hi).limit(1)
    return db.session.scalar(missing) is None
