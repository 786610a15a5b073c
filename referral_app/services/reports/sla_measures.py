"""The SLA's measurements in SQL: MQLs delivered and accepted, clock outcomes, attempt speed.

Definitions (both teams read the same ones, in the SLA report and the interlock pack):
- MQL delivered in a month: a lead entering the marketing-qualified state then, that is a
  stage event into `mql`, or into `sql` straight from `new`/`recycled` (sales accepted it
  before anyone marked it MQL). A lead re-qualified after recycling counts again.
- Accepted / rejected: that lead later (or in the same event) went into `sql` / `rejected`.
- A clock is counted in the month it started (assignment for first_attempt). Compliance is
  met / (met + breached); a running clock past its due time counts as breached even before
  the sweep marks it; cancelled clocks (the lead closed first) count for neither.
- Time to first attempt: the first_attempt clock's start to its met_at (the first attempt,
  recorded even when late), in business hours of the agreement's calendar.
"""
from sqlalchemy import Integer, and_, cast, exists, func, or_, select
from sqlalchemy.orm import aliased

from referral_app.extensions import db
from referral_app.models import Agreement, Lead, LeadEvent, SlaClock
from referral_app.services.reports.business_time import summarise
from referral_app.services.reports.common import bucket_of, count_if, flag

SPEED_EDGES = (3600, 5 * 3600, 24 * 3600)  # business seconds: <1 h, 1–5 h, 5–24 h, 24 h+


def _span(buckets):
    return buckets[0].start, buckets[-1].end


def _scope(stmt, products=None, program_id=None, owner_column=None, owner_id=None):
    if products is not None:
        stmt = stmt.where(Lead.product.in_(products))
    if program_id is not None:
        stmt = stmt.where(Lead.program_id == program_id)
    if owner_id is not None:
        stmt = stmt.where(owner_column == owner_id)
    return stmt


def marketing(buckets, products=None) -> dict[tuple, tuple[int, int, int]]:
    """(product, bucket) -> (MQLs delivered, accepted, rejected)."""
    lo, hi = _span(buckets)
    later = aliased(LeadEvent)

    def then(stage):
        return exists().where(later.lead_id == LeadEvent.lead_id, later.to_stage == stage,
                              later.at >= LeadEvent.at)

    qualifying = and_(LeadEvent.kind == "stage", or_(
        LeadEvent.to_stage == "mql",
        and_(LeadEvent.to_stage == "sql", LeadEvent.from_stage.in_(("new", "recycled")))))
    inner = _scope(
        select(Lead.product, bucket_of(LeadEvent.at, buckets).label("bucket"),
               LeadEvent.lead_id, flag(then("sql")).label("accepted"),
               flag(then("rejected")).label("rejected"))
        .join(Lead, Lead.id == LeadEvent.lead_id)
        .where(qualifying, LeadEvent.at >= lo, LeadEvent.at < hi), products).subquery()
    stmt = (select(inner.c.product, inner.c.bucket, func.count(func.distinct(inner.c.lead_id)),
                   func.count(func.distinct(inner.c.lead_id)).filter(inner.c.accepted == 1),
                   func.count(func.distinct(inner.c.lead_id)).filter(inner.c.rejected == 1))
            .group_by(inner.c.product, inner.c.bucket))
    return {(p, b): (n, a, r) for p, b, n, a, r in db.session.execute(stmt)}


def clock_outcomes(buckets, now, products=None, owner_id=None,
                   group=("product", "bucket", "kind")) -> dict[tuple, tuple[int, int, int]]:
    """group key -> (clocks, met, breached) for clocks started in the buckets."""
    lo, hi = _span(buckets)
    breached = or_(SlaClock.status == "breached",
                   and_(SlaClock.status == "running", SlaClock.due_at < now))
    inner = _scope(
        select(Lead.product, bucket_of(SlaClock.started_at, buckets).label("bucket"),
               SlaClock.kind, SlaClock.owner_id, flag(SlaClock.status == "met").label("met"),
               flag(breached).label("breached"))
        .join(Lead, Lead.id == SlaClock.lead_id)
        .where(SlaClock.started_at >= lo, SlaClock.started_at < hi,
               SlaClock.status != "cancelled"),
        products, owner_column=SlaClock.owner_id, owner_id=owner_id).subquery()
    keys = [inner.c[name] for name in group]
    stmt = (select(*keys, func.count(), count_if(inner.c.met == 1), count_if(inner.c.breached == 1))
            .group_by(*keys))
    return {tuple(row[:-3]): tuple(int(v) for v in row[-3:]) for row in db.session.execute(stmt)}


def first_attempts(buckets, products=None, program_id=None, owner_id=None):
    """The population of first_attempt clocks started in the buckets, for business_time."""
    lo, hi = _span(buckets)
    stmt = (select(Lead.product, Lead.program_id, SlaClock.owner_id,
                   bucket_of(SlaClock.started_at, buckets).label("bucket"),
                   Agreement.calendar_id, SlaClock.started_at,
                   SlaClock.met_at.label("ended_at"),
                   cast(flag(Lead.stage == "won"), Integer).label("won"))
            .join(Lead, Lead.id == SlaClock.lead_id)
            .join(Agreement, Agreement.id == func.coalesce(SlaClock.agreement_id, Lead.agreement_id))
            .where(SlaClock.kind == "first_attempt", SlaClock.status != "cancelled",
                   SlaClock.started_at >= lo, SlaClock.started_at < hi))
    return _scope(stmt, products, program_id, SlaClock.owner_id, owner_id).subquery("first_attempts")


def attempt_timing(buckets, now, calendars, keys=("product", "bucket"), products=None,
                   program_id=None, owner_id=None, edges=()):
    """keys -> Timing (rows, timed, median and p90 seconds, speed bands with won)."""
    pop = first_attempts(buckets, products, program_id, owner_id)
    lo, hi = _span(buckets)
    return summarise(pop, list(keys), calendars, (lo, max(hi, now)), edges=edges)


def breaches_by_owner(buckets, now, products=None) -> dict[int, dict[str, int]]:
    """owner -> {kind: breached clocks} for clocks started in the buckets."""
    rows = clock_outcomes(buckets, now, products, group=("owner_id", "kind"))
    out: dict[int, dict[str, int]] = {}
    for (owner, kind), (_, _, breached) in rows.items():
        if breached and owner is not None:
            out.setdefault(owner, {})[kind] = breached
    return out
