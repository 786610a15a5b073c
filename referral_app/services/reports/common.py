"""SQL building blocks shared by the reports: stage depth, time buckets, calendars, rates."""
from decimal import Decimal

from sqlalchemy import and_, case, false, func, or_, select, text

from referral_app.calendar import BusinessCalendar
from referral_app.extensions import db
from referral_app.models import Agreement, Calendar, Lead, Program, RewardRule
from referral_app.models.lead import STAGE_BITS

# The main path of the funnel and how deep each stage is on it. A lead has "reached" a stage
# when it has an event into that stage or into a later one on this path, so a lead that
# skipped MQL (new → sql) still counts as an MQL and every step's rate stays within 100%.
MAIN_PATH = ("mql", "sql", "opportunity", "won")
DEPTH = {stage: n for n, stage in enumerate(MAIN_PATH, start=1)}
SIDE_EXITS = ("lost", "rejected", "recycled")
# Rewards that cost money: approved or paid, fixed amounts (a percent discount has no known
# value until the referee buys, see Reward.kind).
COSTED_REWARD_STATUSES = ("approved", "issued")


def currencies_in(program=None, product: str | None = None) -> list[str]:
    """The currencies the reward rules of the programs a report covers are in (one program,
    a product's, or all), sorted: one means the report's money is in that currency; more,
    that its sums add amounts of different currencies as they are; none, that it cannot say."""
    query = (select(RewardRule.currency).join(Program, Program.id == RewardRule.program_id)
             .distinct().order_by(RewardRule.currency))
    if program is not None:
        query = query.where(Program.id == program.id)
    elif product:
        query = query.where(Program.product == product)
    return list(db.session.scalars(query))


def fast_reads() -> None:
    """Tune this transaction for report queries (PostgreSQL only).

    Their cost estimates are high enough to trigger JIT compilation, which takes longer
    (~0.2 s per statement) than running them, and their sorts and hashes (percentiles,
    COUNT DISTINCT) spill to disk with the default work_mem. SET LOCAL ends with the
    transaction.
    """
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL jit = off"))
        db.session.execute(text("SET LOCAL work_mem = '64MB'"))


BULK_DAYS = 50  # a pass writing this many days (a first pass, a re-roll) is a bulk load


def analyze_after_bulk(written_days: int, *tables: str) -> None:
    """After a pass that wrote many days, refresh PostgreSQL's statistics of its tables, in
    the same transaction (ANALYZE counts the transaction's own new rows). Until autovacuum
    next looks (a minute or more; never where it is off) the planner takes them for as small
    as they were and plans for a few rows: the SLA report took 0.8–1.4 s instead of 0.55–0.7 s
    after the first pass over 1M leads (bench, session 10)."""
    if written_days >= BULK_DAYS and db.engine.dialect.name == "postgresql":
        db.session.flush()
        db.session.execute(text(f"ANALYZE {', '.join(tables)}"))


def depth_of(column):
    """0 for new or a side exit, 1..4 along mql → sql → opportunity → won."""
    return case(DEPTH, value=column, else_=0)


def flag(condition):
    """1 when the condition holds, else 0 (to MAX or SUM over rows, portable SQL)."""
    return case((condition, 1), else_=0)


def count_if(condition):
    return func.coalesce(func.sum(flag(condition)), 0)


def bucket_of(column, buckets):
    """The key of the bucket holding `column` (contiguous buckets; rows outside: NULL)."""
    return case(*[((column >= b.start) & (column < b.end), b.key) for b in buckets], else_=None)


def cohort(stmt, period, program_id=None, product=None, owner_id=None):
    """Restrict a select over Lead to the leads received in the period (and the filters);
    a period with `ranges` (cohort_days.LivePeriod) to the leads received in those."""
    stmt = stmt.where(Lead.received_at >= period.start_utc, Lead.received_at < period.end_utc)
    ranges = getattr(period, "ranges", None)
    if ranges is not None:
        stmt = stmt.where(or_(false(), *[and_(Lead.received_at >= start, Lead.received_at < end)
                                         for start, end in ranges]))
    if program_id is not None:
        stmt = stmt.where(Lead.program_id == program_id)
    if product is not None:
        stmt = stmt.where(Lead.product == product)
    if owner_id is not None:
        stmt = stmt.where(Lead.owner_id == owner_id)
    return stmt


def per_lead_stages(period, program_id=None, product=None, owner_id=None, buckets=None):
    """One row per lead of the cohort: how deep it went and which side exits it took.

    Read from Lead.stages_entered (a bit per stage the lead had any event into, kept as
    events are written), so no event is read; a lead without events is not counted.
    `buckets` adds the bucket of the lead's arrival (the cohort days' rollup).
    """
    def entered(stage):
        return flag(Lead.stages_entered.bitwise_and(STAGE_BITS[stage]) != 0)

    depth = case(*[(Lead.stages_entered.bitwise_and(STAGE_BITS[stage]) != 0, n)
                   for stage, n in sorted(DEPTH.items(), key=lambda item: -item[1])], else_=0)
    extra = [Lead.product, bucket_of(Lead.received_at, buckets).label("bucket")] if buckets else []
    stmt = (select(Lead.id.label("lead_id"), Lead.program_id, Lead.owner_id, Lead.referral_id,
                   Lead.amount, depth.label("depth"),
                   *[entered(stage).label(f"entered_{stage}")
                     for stage in MAIN_PATH + SIDE_EXITS], Lead.referrer_id, *extra)
            .where(Lead.stages_entered != 0))
    return cohort(stmt, period, program_id, product, owner_id).subquery("per_lead")


def rate(part, whole) -> float | None:
    """part / whole, or None when there is nothing to divide by."""
    if not whole:
        return None
    return float(part) / float(whole)


def money_sum(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def calendars() -> dict[int, BusinessCalendar]:
    """Every calendar an agreement uses, by id (a handful of rows)."""
    rows = db.session.scalars(select(Calendar).where(
        Calendar.id.in_(select(Agreement.calendar_id))))
    return {row.id: row.business() for row in rows}


def agreements_by_product() -> dict[str, list[Agreement]]:
    """Every version in force or superseded, oldest first, per product (a handful of rows)."""
    rows = db.session.scalars(select(Agreement).where(
        Agreement.status.in_(("in_force", "superseded"))).order_by(Agreement.version))
    out: dict[str, list[Agreement]] = {}
    for row in rows:
        out.setdefault(row.product, []).append(row)
    return out


def agreement_at(versions: list[Agreement], moment) -> Agreement | None:
    """The version that was in force at `moment`: the newest effective by then."""
    chosen = None
    for version in versions:
        if version.effective_at is None or version.effective_at <= moment:
            chosen = version
    if chosen is None and versions:
        chosen = versions[-1] if versions[-1].status == "in_force" else versions[0]
    return chosen


def program_by_slug(slug: str | None) -> Program | None:
    if not slug:
        return None
    return db.session.scalar(select(Program).where(Program.slug == slug))


def names(model, ids, column="name") -> dict[int, str]:
    """id → display name for a set of ids, in one statement."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    attr = getattr(model, column)
    return dict(db.session.execute(select(model.id, attr).where(model.id.in_(ids))).all())
