"""The agreements API: a new version of one product's SLA agreement, in force at once."""

from blueprints.api.base import Blueprint, caller, require
from referral_app.extensions import db
from referral_app.schemas.agreements import AgreementIn, AgreementOut
from referral_app.services import agreements

blp = Blueprint("agreements_api", __name__,
                description="The two-sided SLA agreement between marketing and sales.")


@blp.before_request
def authorise():
    require("agreement.publish")  # before parsing: a sales rep gets 403, not field errors


@blp.post("/agreements")
@blp.arguments(AgreementIn)
@blp.response(201, AgreementOut)
@blp.alt_response(403, response="FORBIDDEN")
def create_agreement(data: dict):
    """A new version for the product, in force at once (the console's drafts need both
    sides' sign-off instead); terms left out are kept from the version in force."""
    agreement = agreements.publish(data, caller().id)
    db.session.commit()
    return agreement
