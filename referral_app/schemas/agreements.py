"""Schemas of the agreements API: one version of the SLA agreement for one product."""
from marshmallow import fields

from referral_app.models.agreement import CLOCK_KINDS
from referral_app.schemas import Schema


class AgreementIn(Schema):
    """Terms left out are taken from the version in force (the first version needs calendar_id)."""

    product = fields.String(required=True)
    calendar_id = fields.Integer(metadata={"description": "The business calendar the clocks use."})
    first_attempt_hours = fields.Decimal(as_string=True, metadata={"description": "N hours."})
    first_attempt_clock = fields.String(metadata={"enum": list(CLOCK_KINDS)})
    max_attempts = fields.Integer(metadata={"description": "K attempts at most ..."})
    attempt_window_days = fields.Integer(metadata={"description": "... within D days."})
    decision_hours = fields.Decimal(as_string=True, metadata={"description": "Accept/reject within."})
    monthly_qualified_leads = fields.Integer(metadata={"description": "MQLs per month (marketing)."})
    min_acceptance_rate = fields.Decimal(as_string=True, metadata={
        "description": "Share of MQLs sales accepts, 0..1 (e.g. 0.6)."})
    auto_reassign = fields.Boolean()
    review_cadence_days = fields.Integer()
    notes = fields.String()


class SignoffOut(Schema):
    side = fields.String(metadata={"enum": ["marketing", "sales"]})
    user_id = fields.Integer()
    signed_at = fields.DateTime()


class AgreementOut(Schema):
    id = fields.Integer()
    product = fields.String()
    version = fields.Integer()
    status = fields.String(metadata={"enum": ["draft", "in_force", "superseded"]})
    calendar_id = fields.Integer()
    first_attempt_hours = fields.Float()
    first_attempt_clock = fields.String()
    max_attempts = fields.Integer()
    attempt_window_days = fields.Integer()
    decision_hours = fields.Float()
    monthly_qualified_leads = fields.Integer()
    min_acceptance_rate = fields.Float()
    auto_reassign = fields.Boolean()
    review_cadence_days = fields.Integer()
    notes = fields.String()
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    effective_at = fields.DateTime(allow_none=True)
    signoffs = fields.List(fields.Nested(SignoffOut))
