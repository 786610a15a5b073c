"""Purchases from billing: record them (matched to referrals in the background), refunds."""
from flask import jsonify, request
from sqlalchemy import select

from blueprints.api.base import Blueprint, found, page_schema, paginate, require
from referral_app.extensions import db
from referral_app.models import Purchase
from referral_app.schemas.purchases import PurchaseIn, PurchaseListArgs, PurchaseOut, RefundIn
from referral_app.services import conversion

blp = Blueprint("purchases", __name__,
                description="Purchases reported by billing, for referral-to-purchase conversion. "
                            + conversion.ATTRIBUTION_RULE)

PurchasePage = page_schema(PurchaseOut, "PurchasePage")


@blp.before_request
def writers_only():
    """Before the body is read: a caller who may not record purchases gets 403, not 422."""
    if request.method == "POST":
        require("purchase.create")


@blp.post("/purchases")
@blp.arguments(PurchaseIn)
@blp.response(202, PurchaseOut)
@blp.alt_response(403, response="FORBIDDEN")
def record(data: dict):
    """Record a purchase (admin token of the billing system); matching runs after the 202.

    The same `external_id` again answers 202 with the stored purchase and changes nothing.
    """
    require("purchase.create")
    purchase, _ = conversion.record_purchase(**data)
    db.session.commit()
    return purchase


@blp.get("/purchases")
@blp.arguments(PurchaseListArgs, location="query", as_kwargs=True)
@blp.response(200, PurchasePage)
@blp.alt_response(403, response="FORBIDDEN")
def list_purchases(page: int, per_page: int, status: str | None):
    """Purchases, newest first; `status=unmatched` lists those waiting for a manual match."""
    require("purchase.review")
    query = select(Purchase).order_by(Purchase.purchased_at.desc(), Purchase.id.desc())
    if status:
        query = query.where(Purchase.status == status)
    # Already dumped by paginate(): a Response is not dumped again (the schema documents it).
    return jsonify(paginate(query, page, per_page, PurchaseOut()))


@blp.post("/purchases/<path:external_id>/refund")
@blp.arguments(RefundIn)
@blp.response(202, PurchaseOut)
@blp.alt_response(403, response="FORBIDDEN")
@blp.alt_response(404, response="NOT_FOUND")
def refund(data: dict, external_id: str):
    """Record a refund: the sale's rewards still in their hold period are clawed back."""
    require("purchase.create")
    purchase = found(conversion.by_external_id(external_id), "No such purchase.")
    conversion.refund(purchase, data["refunded_at"])
    db.session.commit()
    return purchase
