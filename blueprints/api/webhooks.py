"""Outbound webhooks: the events and their payload schemas (components of this document)."""

from blueprints.api.base import Blueprint, require
from referral_app.schemas.webhooks import COMPONENTS, DATA_SCHEMAS, WebhookEventOut

blp = Blueprint("webhooks", __name__, description=(
    "Admins subscribe URLs to events in the web console (Rewards → Webhooks). Each event is "
    "POSTed as a `WebhookEnvelope` whose `data` is the event's schema below, signed with "
    "`X-Interlock-Signature: sha256=<hex HMAC-SHA256 of the body>`; failures are retried "
    "with exponential backoff and every delivery is logged with its response code."))


def _document_payloads(state) -> None:
    # The payloads are not answers of any route: register them as components by name.
    api = state.app.extensions["flask-smorest"]["blp_name_to_api"][blp.name]
    for name, schema in COMPONENTS.items():
        if name not in api.spec.components.schemas:
            api.spec.components.schema(name, schema=schema)


blp.record_once(_document_payloads)


@blp.get("/webhooks/events")
@blp.response(200, WebhookEventOut(many=True))
@blp.alt_response(403, response="FORBIDDEN")
def events():
    """The events one can subscribe to, each with the component that describes its data."""
    require("admin")
    return [{"event": event, "schema": schema.__name__} for event, schema in DATA_SCHEMAS.items()]
