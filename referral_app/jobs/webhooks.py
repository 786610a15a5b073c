"""Webhook jobs: send one logged delivery, retried by RQ with exponential backoff."""
from rq import Retry
from sqlalchemy import select

from referral_app.extensions import db
from referral_app.jobs.base import app_job
from referral_app.jobs.queues import DEFAULT, get_queue
from referral_app.models import WebhookDelivery, WebhookSubscription
from referral_app.services import webhooks

# Seconds before each retry: three times longer each time (about 20 minutes in all).
BACKOFF = [10, 30, 90, 270, 810]


class DeliveryFailed(Exception):
    """Raised so that RQ schedules the next retry; the attempt is already logged."""


@app_job
def dispatch(delivery_id: int) -> str:
    """Enqueue the delivery job with its own Retry policy; the id of that job.

    A second dispatch of the same delivery is harmless: `deliver` locks the row and sends
    nothing once it is delivered.
    """
    job = get_queue(DEFAULT).enqueue("referral_app.jobs.webhooks.deliver", delivery_id,
                                     retry=Retry(max=len(BACKOFF), interval=BACKOFF))
    return job.id


@app_job
def deliver(delivery_id: int) -> str:
    """POST the delivery; on failure log it, commit the log, and raise for RQ to retry."""
    delivery = db.session.scalar(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
                                 .with_for_update())
    if delivery is None or delivery.status == "delivered":
        return delivery.status if delivery else "missing"
    sub = db.session.get(WebhookSubscription, delivery.subscription_id)
    if not sub.active:
        delivery.status, delivery.last_error = "failed", "subscription paused"
        return "paused"
    ok = webhooks.attempt(delivery, sub)
    db.session.commit()  # the delivery log survives the exception below
    if not ok:
        raise DeliveryFailed(f"webhook delivery {delivery_id}: "
                             f"{delivery.response_code or delivery.last_error}")
    return "delivered"
