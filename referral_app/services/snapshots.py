"""Daily snapshots per program: referrals, stages reached, purchases, rewards, conversion."""
# Each figure is one GROUP BY over the day (UTC); the rows are written with one upsert, so
# recomputing a day replaces it and the nightly job can safely run twice.
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select

from referral_app.extensions import db
from referral_app.models import DailySnapshot, Lead, LeadEvent, Program, Purchase, Referral, Reward
from referral_app.models.base import utcnow

UNPAID = ("rejected", "void")  # statuses that cost nothing


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _by_program(query) -> dict:
    return {row[0]: row[1:] for row in db.session.execute(query)}


def figures(day: date) -> list[dict]:
    """The snapshot rows for `day`, one per program (zeros included)."""
    start, end = day_bounds(day)
    referrals = _by_program(
        select(Referral.program_id, func.count(Referral.id))
        .where(Referral.created_at >= start, Referral.created_at < end)
        .group_by(Referral.program_id))
    live = (Purchase.status == "matched", Purchase.refunded_at.is_(None))
    converted = _by_program(
        select(Referral.program_id, func.count(func.distinct(Referral.id)))
        .join(Purchase, Purchase.referral_id == Referral.id)
        .where(Referral.created_at >= start, Referral.created_at < end, *live)
        .group_by(Referral.program_id))
    purchases = _by_program(
        select(Referral.program_id, func.count(Purchase.id), func.sum(Purchase.amount))
        .join(Referral, Referral.id == Purchase.referral_id)
        .where(Purchase.purchased_at >= start, Purchase.purchased_at < end, *live)
        .group_by(Referral.program_id))
    stages: dict[int, dict] = {}
    for program_id, stage, count in db.session.execute(
            select(Lead.program_id, LeadEvent.to_stage, func.count(func.distinct(LeadEvent.lead_id)))
            .join(Lead, Lead.id == LeadEvent.lead_id)
            .where(LeadEvent.kind == "stage", LeadEvent.at >= start, LeadEvent.at < end)
            .group_by(Lead.program_id, LeadEvent.to_stage)):
        stages.setdefault(program_id, {})[stage] = count
    cost = func.sum(case((Reward.kind == "fixed", Reward.amount), else_=0))
    reward_states: dict[int, dict] = {}
    for program_id, status, count, total in db.session.execute(
            select(Reward.program_id, Reward.status, func.count(Reward.id), cost)
            .where(Reward.created_at >= start, Reward.created_at < end)
            .group_by(Reward.program_id, Reward.status)):
        reward_states.setdefault(program_id, {})[status] = {
            "n": count, "cost": f"{Decimal(total or 0):.2f}"}
    rows, now = [], utcnow()
    for program_id in db.session.scalars(select(Program.id).order_by(Program.id)):
        made = referrals.get(program_id, (0,))[0]
        won = converted.get(program_id, (0,))[0]
        bought, revenue = purchases.get(program_id, (0, None))
        states = reward_states.get(program_id, {})
        rows.append({
            "program_id": program_id, "day": day, "referrals": made,
            "stages": stages.get(program_id, {}), "purchases": bought,
            "revenue": Decimal(revenue or 0).quantize(Decimal("0.01")), "rewards": states,
            "reward_cost": sum((Decimal(v["cost"]) for s, v in states.items() if s not in UNPAID),
                               Decimal("0.00")),
            "converted": won,
            "conversion": (Decimal(won) / made).quantize(Decimal("0.0001")) if made else Decimal(0),
            "computed_at": now,
        })
    return rows


def compute(day: date) -> int:
    """Write (or rewrite) the snapshots of `day`; how many program rows were written."""
    rows = figures(day)
    if not rows:
        return 0
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(DailySnapshot).values(rows)
    columns = [key for key in rows[0] if key not in ("program_id", "day")]
    db.session.execute(statement.on_conflict_do_update(
        index_elements=["program_id", "day"],
        set_={name: statement.excluded[name] for name in columns}))
    db.session.flush()
    return len(rows)


def for_day(program_id: int, day: date) -> DailySnapshot | None:
    return db.session.scalar(select(DailySnapshot).where(DailySnapshot.program_id == program_id,
                                                         DailySnapshot.day == day)
                           .execution_options(populate_existing=True))
