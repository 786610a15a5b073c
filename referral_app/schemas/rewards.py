"""Schemas of the reward ledger API: rewards out, review decisions in, payout batches."""
from marshmallow import fields, validate

from referral_app.models.program import REWARD_SIDES, REWARD_TRIGGERS
from referral_app.models.reward import REWARD_STATUSES
from referral_app.schemas import PageArgs, Schema


class RewardOut(Schema):
    id = fields.Integer()
    side = fields.String(metadata={"enum": list(REWARD_SIDES),
                                   "description": "give: to the referee; get: to the referrer."})
    status = fields.String(metadata={"enum": list(REWARD_STATUSES)})
    kind = fields.String(metadata={"enum": ["fixed", "percent"], "description":
                                   "fixed: `amount` is money; percent: a discount of `amount`%."})
    amount = fields.Decimal(places=2, as_string=True)
    currency = fields.String(metadata={"description": "ISO 4217 code."})
    trigger = fields.String(metadata={"enum": list(REWARD_TRIGGERS)})
    referral_id = fields.Integer()
    program_id = fields.Integer()
    referrer_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True, metadata={
        "description": "Why it was rejected or voided, e.g. cap_reached or refunded."})
    hold_reasons = fields.List(fields.String(), metadata={
        "description": "Why it is held for review, e.g. self_referral or disposable_email."})
    coupon_code = fields.String(allow_none=True, metadata={
        "description": "The single-use code of an issued give reward."})
    issuable_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "The end of the hold period: it cannot be issued before."})
    created_at = fields.AwareDateTime()
    approved_at = fields.AwareDateTime(allow_none=True)
    issued_at = fields.AwareDateTime(allow_none=True)


class RewardListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(REWARD_STATUSES))
    side = fields.String(load_default=None, validate=validate.OneOf(REWARD_SIDES))
    trigger = fields.String(load_default=None, validate=validate.OneOf(REWARD_TRIGGERS))
    referral_id = fields.Integer(load_default=None)


class RewardReasonIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500),
                           error_messages={"required": "Say why."})
