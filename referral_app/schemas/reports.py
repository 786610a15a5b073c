"""Schemas of the report endpoints: query arguments in, funnel / leaderboards / SLA out.

Rates are fractions (0.6667 = 66.67 %) rounded to four places, null when there is nothing
to divide by; money is a string with two decimals; durations are business hours.
"""
from datetime import timedelta
from zoneinfo import ZoneInfo

import marshmallow as ma

from referral_app.schemas import Schema

MEASURES = ("sql", "opportunity", "won")  # as services.reports.leaderboards
ENTITIES = ("programs", "reps")
RATE = {"allow_none": True, "metadata": {"description": "a fraction, 0..1, or null"}}


def rate(value):
    return None if value is None else round(value, 4)


def hours(seconds):
    return None if seconds is None else round(seconds / 3600, 2)


class Money(ma.fields.Decimal):
    """Money as the contract has it: a string with two decimals (documented as such)."""

    def __init__(self, **kwargs):
        metadata = {"type": "string", "format": "decimal", "example": "100.00",
                    **kwargs.pop("metadata", {})}
        super().__init__(places=2, as_string=True, metadata=metadata, **kwargs)


# -- arguments ------------------------------------------------------------------------------

class PeriodArgs(Schema):
    class Meta:
        unknown = ma.EXCLUDE

    from_ = ma.fields.Date(data_key="from", load_default=None, metadata={
        "description": "First day, inclusive, in the agreement's zone (default: the current "
                       "quarter's first day)."})
    to = ma.fields.Date(load_default=None, metadata={
        "description": "Last day, inclusive (default: the end of the from date's quarter)."})
    product = ma.fields.String(load_default=None, validate=ma.validate.Length(max=100))


class FunnelArgs(PeriodArgs):
    program = ma.fields.String(load_default=None, validate=ma.validate.Length(max=100),
                               metadata={"description": "A program's slug."})


class LeaderboardArgs(PeriodArgs):
    min_volume = ma.fields.Integer(load_default=5, validate=ma.validate.Range(min=1, max=100_000),
                                   metadata={"description": "Leads needed to be ranked."})
    limit = ma.fields.Integer(load_default=5, validate=ma.validate.Range(min=1, max=50))


# -- output ---------------------------------------------------------------------------------

class PeriodOut(Schema):
    from_ = ma.fields.Date(data_key="from", attribute="start")
    to = ma.fields.Date(attribute="end")
    timezone = ma.fields.String()


class StepOut(Schema):
    from_ = ma.fields.String(data_key="from")
    to = ma.fields.String()
    rate = ma.fields.Float(**RATE)


class FunnelOut(Schema):
    period = ma.fields.Nested(PeriodOut)
    program = ma.fields.String(allow_none=True)
    product = ma.fields.String(allow_none=True)
    stages = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={
        "description": "Leads received in the period that reached each stage (or a later one "
                       "on new→mql→sql→opportunity→won); side exits: leads that entered them."})
    entered = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={
        "description": "Leads with an event into exactly that stage (skipped stages excluded)."})
    conversions = ma.fields.List(ma.fields.Nested(StepOut))
    lead_to_opportunity = ma.fields.Float(**RATE)
    opportunity_to_won = ma.fields.Float(**RATE)
    won = ma.fields.Integer()
    won_value = Money(metadata={"description": "Revenue: the amounts of the won deals."})
    average_won_value = Money(allow_none=True)
    purchases = ma.fields.Integer()
    purchase_revenue = Money()
    referral_to_purchase = ma.fields.Float(**RATE)
    reward_cost = Money()
    cost_per_won = Money(allow_none=True)
    currencies = ma.fields.List(ma.fields.String(), metadata={
        "description": "The currencies of the covered programs' reward rules, sorted: one "
                       "means the money fields are in it; more, that their sums add amounts "
                       "of different currencies as they are (filter by program or product "
                       "to separate them); none, that no program has a reward rule."})

    @ma.pre_dump
    def from_funnel(self, f, **kwargs):
        c = f.counts
        return {
            "period": f.period, "program": f.program.slug if f.program is not None else None,
            "product": f.product,
            "stages": {s: c.count(s) for s in ("leads", "mql", "sql", "opportunity", "won",
                                               "lost", "rejected", "recycled")},
            "entered": dict(c.entered) or {s: 0 for s in ("mql", "sql", "opportunity", "won",
                                                          "lost", "rejected", "recycled")},
            "conversions": [{"from_": a, "to": b, "rate": rate(r)} for a, b, _, _, r in f.steps()],
            "lead_to_opportunity": rate(f.lead_to_opportunity),
            "opportunity_to_won": rate(f.opportunity_to_won), "won": f.won,
            "won_value": c.won_value, "average_won_value": f.average_won_value,
            "purchases": f.purchases, "purchase_revenue": f.purchase_revenue,
            "referral_to_purchase": rate(f.referral_to_purchase),
            "reward_cost": f.reward_cost, "cost_per_won": f.cost_per_won,
            "currencies": f.currencies,
        }


class EntryOut(Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    leads = ma.fields.Integer()
    count = ma.fields.Integer()
    rate = ma.fields.Float(**RATE)


class BoardPairOut(Schema):
    top = ma.fields.List(ma.fields.Nested(EntryOut))
    bottom = ma.fields.List(ma.fields.Nested(EntryOut))


MeasuresOut = Schema.from_dict(
    {m: ma.fields.Nested(BoardPairOut) for m in MEASURES}, name="LeaderboardMeasures")


class LeaderboardsOut(Schema):
    period = ma.fields.Nested(PeriodOut)
    min_volume = ma.fields.Integer()
    limit = ma.fields.Integer()
    programs = ma.fields.Nested(MeasuresOut)
    reps = ma.fields.Nested(MeasuresOut)
    unranked = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={
        "description": "How many programs / reps had fewer leads than min_volume."})

    @ma.pre_dump
    def from_boards(self, b, **kwargs):
        out = {"period": b.period, "min_volume": b.min_volume, "limit": b.limit,
               "unranked": dict(b.unranked)}
        for entity in ENTITIES:
            out[entity] = {m: {o: [dict(e.__dict__, rate=rate(e.rate)) for e in b.board(entity, m, o)]
                               for o in ("top", "bottom")} for m in MEASURES}
        return out


class ClockOut(Schema):
    clocks = ma.fields.Integer()
    met = ma.fields.Integer()
    breached = ma.fields.Integer()
    pending = ma.fields.Integer()
    compliance = ma.fields.Float(**RATE)


class MarketingOut(Schema):
    mqls = ma.fields.Integer()
    target = ma.fields.Integer(allow_none=True)
    attainment = ma.fields.Float(**RATE)
    accepted = ma.fields.Integer()
    rejected = ma.fields.Integer()
    acceptance_rate = ma.fields.Float(**RATE)
    min_acceptance_rate = ma.fields.Float(allow_none=True)
    volume_met = ma.fields.Boolean(allow_none=True)
    quality_met = ma.fields.Boolean(allow_none=True)


class TimingOut(Schema):
    timed = ma.fields.Integer(metadata={"description": "Leads with a first attempt."})
    median_hours = ma.fields.Float(allow_none=True)
    p90_hours = ma.fields.Float(allow_none=True)


class SalesOut(Schema):
    first_attempt = ma.fields.Nested(ClockOut)
    attempt_limit = ma.fields.Nested(ClockOut)
    decision = ma.fields.Nested(ClockOut)
    time_to_first_attempt = ma.fields.Nested(TimingOut)


class SlaMonthOut(Schema):
    month = ma.fields.String(metadata={"description": "YYYY-MM, or 'period' for the total."})
    from_ = ma.fields.Date(data_key="from")
    to = ma.fields.Date()
    partial = ma.fields.Boolean()
    in_progress = ma.fields.Boolean()
    marketing = ma.fields.Nested(MarketingOut)
    sales = ma.fields.Nested(SalesOut)


def sla_row(row, zone: str) -> dict:
    tz = ZoneInfo(zone)
    return {
        "month": row.key, "from_": row.start.astimezone(tz).date(),
        "to": (row.end - timedelta(microseconds=1)).astimezone(tz).date(),
        "partial": row.partial, "in_progress": row.in_progress,
        "marketing": {"mqls": row.mqls, "target": row.target, "attainment": rate(row.attainment),
                      "accepted": row.accepted, "rejected": row.rejected,
                      "acceptance_rate": rate(row.acceptance_rate),
                      "min_acceptance_rate": float(row.min_acceptance)
                      if row.min_acceptance is not None else None,
                      "volume_met": row.volume_met, "quality_met": row.quality_met},
        "sales": {**{kind: {"clocks": s.clocks, "met": s.met, "breached": s.breached,
                            "pending": s.pending, "compliance": rate(s.compliance)}
                     for kind, s in row.clocks.items()},
                  "time_to_first_attempt": {"timed": row.timed,
                                            "median_hours": hours(row.median_seconds),
                                            "p90_hours": hours(row.p90_seconds)}},
    }


class AgreementTermsOut(Schema):
    id = ma.fields.Integer()
    version = ma.fields.Integer()
    monthly_qualified_leads = ma.fields.Integer()
    min_acceptance_rate = ma.fields.Float()
    first_attempt_hours = ma.fields.Float()
    first_attempt_clock = ma.fields.String()
    max_attempts = ma.fields.Integer()
    attempt_window_days = ma.fields.Integer()
    decision_hours = ma.fields.Float()


class ProductSlaOut(Schema):
    product = ma.fields.String()
    timezone = ma.fields.String()
    agreement = ma.fields.Nested(AgreementTermsOut, allow_none=True)
    months = ma.fields.List(ma.fields.Nested(SlaMonthOut))
    total = ma.fields.Nested(SlaMonthOut)
    trend = ma.fields.List(ma.fields.Nested(SlaMonthOut), metadata={
        "description": "The six months ending with the period's last month (or this month): "
                       "volumes and compliance; time to first attempt only for the period's."})

    @ma.pre_dump
    def from_product(self, p, **kwargs):
        return {"product": p.product, "timezone": p.timezone, "agreement": p.agreement,
                "months": [sla_row(r, p.timezone) for r in p.months],
                "total": sla_row(p.total, p.timezone),
                "trend": [sla_row(r, p.timezone) for r in p.trend]}


class RepOut(Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()


class BreachesOut(Schema):
    rep = ma.fields.Nested(RepOut)
    first_attempt = ma.fields.Integer()
    attempt_limit = ma.fields.Integer()
    decision = ma.fields.Integer()
    total = ma.fields.Integer()

    @ma.pre_dump
    def from_breaches(self, b, **kwargs):
        return {"rep": {"id": b.owner_id, "name": b.name}, "total": b.total,
                **{k: b.by_kind.get(k, 0) for k in ("first_attempt", "attempt_limit", "decision")}}


class SlaOut(Schema):
    period = ma.fields.Nested(PeriodOut)
    products = ma.fields.List(ma.fields.Nested(ProductSlaOut))
    breaches = ma.fields.List(ma.fields.Nested(BreachesOut), metadata={
        "description": "Breached clocks per rep among the clocks started in the period."})
