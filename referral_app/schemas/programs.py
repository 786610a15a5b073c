"""Schemas of the programs API: a program with its give-get reward rules, in and out."""
import marshmallow as ma
from marshmallow import fields

from referral_app.models.program import (
    PROGRAM_STATUSES,
    REWARD_KINDS,
    REWARD_SIDES,
    REWARD_TRIGGERS,
)
from referral_app.models.user import REFERRER_KINDS
from referral_app.schemas import Schema
from referral_app.services import reward_rules


class TierIn(Schema):
    # `from` is a Python keyword: the field has another name, the data and result keep "from".
    from_ = fields.Integer(required=True, data_key="from", attribute="from",
                           metadata={"description": "The nth reward in a year."})
    amount = fields.Decimal(required=True, as_string=True)


class RewardRuleIn(Schema):
    side = fields.String(required=True, metadata={
        "enum": list(REWARD_SIDES), "description": "give: to the referee; get: to the referrer."})
    trigger = fields.String(required=True, metadata={"enum": list(REWARD_TRIGGERS)})
    kind = fields.String(required=True, metadata={
        "enum": list(REWARD_KINDS),
        "description": "fixed amount, or percent of the deal or purchase (a discount on the "
                       "give side)."})
    amount = fields.Decimal(required=True, as_string=True,
                            metadata={"description": "More than 0; at most 100 for percent."})
    currency = fields.String(load_default="USD", metadata={"description": "ISO 4217 code."})
    cap_per_referrer = fields.Integer(allow_none=True, metadata={
        "description": "Rewards per referrer per calendar year; beyond it they are rejected."})
    tiers = fields.List(fields.Nested(TierIn), load_default=list)
    hold_days = fields.Integer(load_default=0, metadata={"description": "Refund window."})
    requires_approval = fields.Boolean(load_default=True)


class RewardRuleOut(Schema):
    id = fields.Integer()
    side = fields.String()
    trigger = fields.String()
    kind = fields.String()
    amount = fields.Decimal(places=2, as_string=True)
    currency = fields.String()
    cap_per_referrer = fields.Integer(allow_none=True)
    tiers = fields.List(fields.Dict())
    hold_days = fields.Integer()
    requires_approval = fields.Boolean()
    description = fields.Function(reward_rules.describe_rule, metadata={"type": "string"})


class ProgramPatch(Schema):
    """Every field optional; `status` moves the lifecycle (draft → active ↔ paused → archived)."""

    name = fields.String()
    slug = fields.String(metadata={"description": "Lower-case letters, digits and hyphens."})
    product = fields.String()
    referrer_kinds = fields.List(fields.String(metadata={"enum": list(REFERRER_KINDS)}))
    share_message = fields.String(metadata={
        "description": "Template; placeholders such as {referrer_first_name}, {offer}, {link}."})
    landing_headline = fields.String()
    landing_body = fields.String(metadata={"description": "Markdown, rendered sanitised."})
    give_offer = fields.String()
    attribution_window_days = fields.Integer()
    velocity_per_hour = fields.Integer(metadata={"description": "Referrals per referrer per hour."})
    velocity_per_ip = fields.Integer(metadata={"description": "Referees per IP address per day."})
    block_same_domain = fields.Boolean()
    mql_on_arrival = fields.Boolean()
    coupon_format = fields.String(metadata={"description": "e.g. REF-{code}"})
    status = fields.String(metadata={"enum": list(PROGRAM_STATUSES)})
    rewards = fields.List(fields.Nested(RewardRuleIn), metadata={
        "description": "Replaces the active rules; rules that earned rewards are retired, not deleted."})


class ProgramIn(ProgramPatch):
    """A new program; it starts in `draft` unless `status` says `active`."""

    name = fields.String(required=True)
    slug = fields.String(required=True, metadata={"description": "Lower-case letters, digits and hyphens."})
    product = fields.String(required=True)


class ProgramOut(Schema):
    id = fields.Integer()
    name = fields.String()
    slug = fields.String()
    product = fields.String()
    status = fields.String()
    referrer_kinds = fields.List(fields.String())
    share_message = fields.String()
    landing_headline = fields.String()
    landing_body = fields.String()
    give_offer = fields.String()
    attribution_window_days = fields.Integer()
    velocity_per_hour = fields.Integer()
    velocity_per_ip = fields.Integer()
    block_same_domain = fields.Boolean()
    mql_on_arrival = fields.Boolean()
    coupon_format = fields.String()
    rewards = fields.List(fields.Nested(RewardRuleOut), metadata={"description": "Active rules."})
    rewards_summary = fields.String(metadata={
        "description": 'In words, e.g. "Your friend gets 20% off; you get $100 when they '
                       'become a customer."'})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    code = fields.String(metadata={"description": "The caller's referral code (referrers only)."})
    link = fields.String(metadata={"description": "The caller's referral link (referrers only)."})

    @ma.pre_dump
    def _with_live_rules(self, program, **kwargs):
        if isinstance(program, dict):
            return program
        values = {name: getattr(program, name) for name in self.fields
                  if name not in ("rewards", "rewards_summary") and hasattr(program, name)}
        live = [rule for rule in program.rules if rule.active]
        return {**values, "rewards": live, "rewards_summary": reward_rules.describe(live)}
