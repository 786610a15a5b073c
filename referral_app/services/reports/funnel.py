"""The funnel of a period: leads received then, how far they got, what they earned and cost.

The cohort is the leads *received* in the period (in the report's zone); every count follows
those leads to today. "Reached" a stage means an event into it or into a later stage of
new → mql → sql → opportunity → won (see common.DEPTH); side exits (lost, rejected,
recycled) count leads with an event into them. `entered` counts only leads with an event
into exactly that stage, so the difference shows the leads that skipped it.
"""
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select

from referral_app.extensions import db
from referral_app.models import Lead, Purchase, Reward
from referral_app.services.reports.common import (
    COSTED_REWARD_STATUSES,
    MAIN_PATH,
    SIDE_EXITS,
    cohort,
    count_if,
    currencies_in,
    fast_reads,
    money_sum,
    per_lead_stages,
    rate,
)

STAGES = ("leads",) + MAIN_PATH + SIDE_EXITS


@dataclass
class StageCounts:
    leads: int = 0
    reached: dict = field(default_factory=dict)  # stage -> leads that reached it
    entered: dict = field(default_factory=dict)  # stage -> leads with an event into it
    won_value: Decimal = Decimal("0.00")
    # The cohort's live purchases and reward cost, where read (cohort_days, the funnel).
    purchases: int = 0
    purchase_revenue: Decimal = Decimal("0.00")
    reward_cost: Decimal = Decimal("0.00")

    def count(self, stage: str) -> int:
        return self.leads if stage == "leads" else self.reached.get(stage, 0)

    @classmethod
    def total(cls, parts) -> "StageCounts":
        """The sum of several groups' counts (e.g. rolled-up days and the live rest)."""
        out = cls()
        for part in parts:
            out.leads += part.leads
            out.won_value += part.won_value
            out.purchases += part.purchases
            out.purchase_revenue += part.purchase_revenue
            out.reward_cost += part.reward_cost
            for mine, theirs in ((out.reached, part.reached), (out.entered, part.entered)):
                for stage, n in theirs.items():
                    mine[stage] = mine.get(stage, 0) + n
        return out


@dataclass
class Funnel:
    period: object
    program: object = None
    product: str | None = None
    counts: StageCounts = field(default_factory=StageCounts)
    purchases: int = 0  # cohort referrals with a matched, unrefunded purchase
    purchase_revenue: Decimal = Decimal("0.00")
    reward_cost: Decimal = Decimal("0.00")
    # The currencies of the covered programs' reward rules (common.currencies_in): one, the
    # money above is in it; more, its sums add amounts of different currencies as they are.
    currencies: list = field(default_factory=list)

    def steps(self) -> list[tuple[str, str, int, int, float | None]]:
        """(from, to, count from, count to, conversion) along the main path."""
        path = ("leads",) + MAIN_PATH
        return [(a, b, self.counts.count(a), self.counts.count(b),
                 rate(self.counts.count(b), self.counts.count(a)))
                for a, b in zip(path, path[1:], strict=False)]

    @property
    def won(self) -> int:
        return self.counts.count("won")

    @property
    def lead_to_opportunity(self):
        return rate(self.counts.count("opportunity"), self.counts.leads)

    @property
    def opportunity_to_won(self):
        return rate(self.won, self.counts.count("opportunity"))

    @property
    def average_won_value(self) -> Decimal | None:
        return money_sum(self.counts.won_value / self.won) if self.won else None

    @property
    def referral_to_purchase(self):
        return rate(self.purchases, self.counts.leads)

    @property
    def cost_per_won(self) -> Decimal | None:
        return money_sum(self.reward_cost / self.won) if self.won else None


def stage_counts(period, group_by=(), program_id=None, product=None,
                 owner_id=None, buckets=None) -> dict[tuple, StageCounts]:
    """StageCounts per group (`group_by`: names among program_id, owner_id, and with
    `buckets` (arrival buckets) bucket and product)."""
    per_lead = per_lead_stages(period, program_id, product, owner_id, buckets=buckets)
    keys = [per_lead.c[name] for name in group_by]
    measures = [func.count()]
    measures += [count_if(per_lead.c.depth >= n) for n in range(1, len(MAIN_PATH) + 1)]
    measures += [count_if(per_lead.c[f"entered_{stage}"] == 1) for stage in MAIN_PATH + SIDE_EXITS]
    measures.append(func.sum(func.coalesce(per_lead.c.amount, 0)).filter(per_lead.c.depth == 4))
    stmt = select(*keys, *measures).group_by(*keys)
    if buckets:
        # The buckets need not be contiguous (the days a roll-up pass redoes): leads of the
        # days between them are in the period but in no bucket.
        stmt = stmt.where(per_lead.c.bucket.is_not(None))
    out = {}
    for row in db.session.execute(stmt):
        key, values = tuple(row[: len(keys)]), row[len(keys):]
        if not values[0]:
            continue
        depth = dict(zip(MAIN_PATH, values[1:5], strict=True))
        entered = dict(zip(MAIN_PATH + SIDE_EXITS, values[5:12], strict=True))
        reached = {**depth, **{s: entered[s] for s in SIDE_EXITS}}
        out[key] = StageCounts(leads=values[0], reached=reached, entered=entered,
                               won_value=money_sum(values[12]))
    return out


def funnel(period, program=None, product=None) -> Funnel:
    """The funnel of the leads received in `period`, for one program or product if given.

    Rolled-up days (cohort_days) are read as they are; the rest is measured from the leads.
    """
    from referral_app.services.reports import cohort_days

    fast_reads()
    program_id = program.id if program is not None else None
    plan = cohort_days.plan(period)
    parts = []
    if plan is not None:
        parts += cohort_days.counts(plan, ("program",), program_id, product).values()
    live = period if plan is None else plan.live
    if live is not None:
        parts.append(_measured(live, program_id, product))
    counts = StageCounts.total(parts)
    return Funnel(period=period, program=program, product=product, counts=counts,
                  purchases=counts.purchases, purchase_revenue=counts.purchase_revenue,
                  reward_cost=counts.reward_cost, currencies=currencies_in(program, product))


def _measured(period, program_id, product) -> StageCounts:
    """The funnel's counts and money measured from the leads of `period`."""
    counts = stage_counts(period, program_id=program_id, product=product).get((), StageCounts())
    purchases = cohort(
        select(func.count(func.distinct(Purchase.referral_id)), func.sum(Purchase.amount))
        .join(Lead, Lead.referral_id == Purchase.referral_id)
        .where(Purchase.refunded_at.is_(None)), period, program_id, product)
    bought, revenue = db.session.execute(purchases).one()
    cost = db.session.scalar(cohort(
        select(func.sum(Reward.amount)).join(Lead, Lead.referral_id == Reward.referral_id)
        .where(Reward.status.in_(COSTED_REWARD_STATUSES), Reward.kind == "fixed"),
        period, program_id, product))
    counts.purchases, counts.purchase_revenue = bought or 0, money_sum(revenue)
    counts.reward_cost = money_sum(cost)
    return counts
