"""Schemas of purchases reported by billing (API and CSV upload) and of the answer."""
from datetime import UTC
from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

from referral_app.schemas import PageArgs, Schema
from referral_app.services.currencies import is_currency

MAX_AMOUNT = Decimal("999999999999.99")  # Numeric(14, 2)


class PurchaseIn(Schema):
    external_id = fields.String(required=True, validate=validate.Length(min=1, max=200),
                                metadata={"description": "Billing's id: the same id twice "
                                                         "records one purchase."})
    email = fields.Email(required=True, validate=validate.Length(max=254),
                         error_messages={"invalid": "Enter a valid e-mail address."})
    amount = fields.Decimal(required=True, places=2, as_string=True,
                            validate=validate.Range(min=Decimal("0"), max=MAX_AMOUNT,
                                                    min_inclusive=False,
                                                    error="The amount must be more than 0."),
                            metadata={"description": "More than 0, e.g. \"1200.00\"."})
    currency = fields.String(required=True, metadata={"description": "ISO 4217 code, e.g. USD."})
    purchased_at = fields.AwareDateTime(required=True, default_timezone=UTC, metadata={
        "description": "ISO-8601; without an offset it is read as UTC."})
    referral_code = fields.String(load_default=None, allow_none=True,
                                  validate=validate.Length(max=64),
                                  metadata={"description": "A referral or coupon code used at "
                                                           "checkout; must exist when given."})

    @ma.pre_load
    def trim(self, data, **kwargs):
        if not isinstance(data, dict):
            return data
        return {key: (value.strip() or None) if isinstance(value, str) else value
                for key, value in data.items()}

    @ma.validates("currency")
    def known_currency(self, value, **kwargs):
        if not is_currency(value.upper()):
            raise ma.ValidationError(f"{value} is not an ISO 4217 currency code (e.g. USD, EUR).")

    @ma.post_load
    def normalise(self, data, **kwargs):
        data["currency"] = data["currency"].upper()
        data["email"] = data["email"].lower()
        return data


class PurchaseOut(Schema):
    id = fields.Integer()
    external_id = fields.String()
    email = fields.String()
    amount = fields.Decimal(places=2, as_string=True)
    currency = fields.String()
    purchased_at = fields.AwareDateTime()
    referral_code = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": ["unmatched", "matched"], "description":
                                     "Matching runs in the background after the 202."})
    referral_id = fields.Integer(allow_none=True)
    matched_by = fields.String(allow_none=True, metadata={
        "enum": ["code", "email", "domain", "manual"]})
    refunded_at = fields.AwareDateTime(allow_none=True)


class RefundIn(Schema):
    refunded_at = fields.AwareDateTime(load_default=None, default_timezone=UTC, metadata={
        "description": "When the money went back; now when omitted."})


class PurchaseListArgs(PageArgs):
    status = fields.String(load_default=None, validate=validate.OneOf(["unmatched", "matched"]))
