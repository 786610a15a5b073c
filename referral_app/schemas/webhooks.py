"""Webhook payloads, documented as OpenAPI components (what services.webhooks sends)."""
from marshmallow import fields

from referral_app.models.notification import WEBHOOK_EVENTS
from referral_app.schemas import Schema


class WebhookRefereeData(Schema):
    name = fields.String()
    email = fields.String()
    company = fields.String(allow_none=True)


class WebhookLeadRef(Schema):
    id = fields.Integer()
    stage = fields.String()


class ReferralCreatedData(Schema):
    referral_id = fields.Integer()
    program = fields.String(metadata={"description": "The program's slug."})
    referrer_id = fields.Integer(allow_none=True)
    source = fields.String()
    status = fields.String()
    created_at = fields.AwareDateTime()
    referee = fields.Nested(WebhookRefereeData)
    lead = fields.Nested(WebhookLeadRef, allow_none=True)


class LeadStageChangedData(Schema):
    lead_id = fields.Integer()
    referral_id = fields.Integer()
    program = fields.String()
    from_stage = fields.String(allow_none=True)
    to_stage = fields.String()
    actor_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    at = fields.AwareDateTime()


class SlaBreachedData(Schema):
    clock_id = fields.Integer()
    lead_id = fields.Integer()
    kind = fields.String(metadata={"enum": ["first_attempt", "decision", "attempt_limit"]})
    owner_id = fields.Integer(allow_none=True)
    due_at = fields.AwareDateTime()
    breached_at = fields.AwareDateTime(allow_none=True)


class RewardEventData(Schema):
    """The data of reward.approved and reward.issued."""

    reward_id = fields.Integer()
    referral_id = fields.Integer()
    program = fields.String()
    referrer_id = fields.Integer(allow_none=True)
    side = fields.String(metadata={"enum": ["give", "get"]})
    kind = fields.String(metadata={"enum": ["fixed", "percent"]})
    trigger = fields.String()
    status = fields.String()
    amount = fields.Decimal(places=2, as_string=True)
    currency = fields.String()
    coupon_code = fields.String(allow_none=True)
    approved_at = fields.AwareDateTime(allow_none=True)
    issued_at = fields.AwareDateTime(allow_none=True)


class PurchaseMatchedData(Schema):
    purchase_id = fields.Integer()
    external_id = fields.String()
    referral_id = fields.Integer()
    lead_id = fields.Integer(allow_none=True)
    matched_by = fields.String(metadata={"enum": ["code", "email", "domain", "manual"]})
    amount = fields.Decimal(places=2, as_string=True)
    currency = fields.String()
    purchased_at = fields.AwareDateTime()


DATA_SCHEMAS = {
    "referral.created": ReferralCreatedData,
    "lead.stage_changed": LeadStageChangedData,
    "sla.breached": SlaBreachedData,
    "reward.approved": RewardEventData,
    "reward.issued": RewardEventData,
    "purchase.matched": PurchaseMatchedData,
}
assert set(DATA_SCHEMAS) == set(WEBHOOK_EVENTS)


class WebhookEnvelope(Schema):
    """The POSTed JSON body. Verify it: X-Interlock-Signature is `sha256=` followed by the hex
    HMAC-SHA256 of the exact body bytes, keyed with the subscription's secret."""

    id = fields.String(metadata={"description": "The event's id, e.g. reward.approved:12; "
                                                "the same id may arrive again after a retry."})
    event = fields.String(metadata={"enum": list(WEBHOOK_EVENTS)})
    occurred_at = fields.AwareDateTime()
    data = fields.Dict(metadata={"description": "One of the *Data schemas, by `event`."})


class WebhookEventOut(Schema):
    event = fields.String()
    schema = fields.String(metadata={"description": "The component describing `data`."})


COMPONENTS = {
    "WebhookEnvelope": WebhookEnvelope,
    "WebhookRefereeData": WebhookRefereeData,
    "WebhookLeadRef": WebhookLeadRef,
    "ReferralCreatedData": ReferralCreatedData,
    "LeadStageChangedData": LeadStageChangedData,
    "SlaBreachedData": SlaBreachedData,
    "RewardEventData": RewardEventData,
    "PurchaseMatchedData": PurchaseMatchedData,
}
