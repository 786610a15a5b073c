"""Webhooks: signed deliveries to a local receiver, a retry after a 500, the log, the docs."""
import hashlib
import hmac
import json

from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from referral_app.jobs import DEFAULT, get_queue, redis_connection
from referral_app.jobs import rewards as reward_jobs
from referral_app.jobs import webhooks as webhook_jobs
from referral_app.models import WebhookDelivery
from referral_app.schemas.webhooks import DATA_SCHEMAS, WebhookEnvelope
from referral_app.services import reward_states, rewards, webhooks
from tests import factories as f
from tests.rewards.conftest import rule


def deliveries(db):
    return db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def test_signed_delivery_with_a_retry_after_a_500(app, db, program, referral, receiver):
    hook = receiver(codes=(500, 200))
    sub = webhooks.create_subscription(hook.url, ["reward.approved"])
    prog = program(rule())
    (reward,) = rewards.fire(referral(prog, f.user()).id, "won")
    reward_states.approve(reward.id, f.user("marketing").id)
    db.session.commit()
    (delivery,) = deliveries(db)
    queue = get_queue(DEFAULT)
    # The commit enqueued `dispatch`; it enqueues `deliver`, which gets a 500 and fails.
    SimpleWorker([queue], connection=redis_connection()).work(burst=True)
    db.session.expire_all()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("failed", 1, 500)
    (job_id,) = ScheduledJobRegistry(queue=queue).get_job_ids()  # RQ retries it later
    job = queue.fetch_job(job_id)
    assert job.func_name == "referral_app.jobs.webhooks.deliver"
    assert job.retries_left == len(webhook_jobs.BACKOFF) - 1
    assert job.retry_intervals == [10, 30, 90, 270, 810]  # each pause three times the last
    # The retry, run now instead of in 10 seconds:
    assert webhook_jobs.deliver(delivery.id) == "delivered"
    db.session.expire_all()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("delivered", 2, 200)
    assert webhook_jobs.deliver(delivery.id) == "delivered"  # a late duplicate sends nothing
    assert len(hook.requests) == 2

    headers, body = hook.requests[-1]
    expected = "sha256=" + hmac.new(sub.secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Interlock-Signature"], expected)
    envelope = json.loads(body)
    assert envelope["event"] == "reward.approved" and envelope["id"] == f"reward.approved:{reward.id}"
    assert envelope["data"]["amount"] == "100.00" and envelope["data"]["status"] == "approved"
    assert WebhookEnvelope().validate(envelope) == {}
    assert DATA_SCHEMAS["reward.approved"]().validate(envelope["data"]) == {}


def test_publishing_twice_logs_one_delivery_per_subscription(db, program, referral, receiver):
    hook = receiver()
    webhooks.create_subscription(hook.url, ["referral.created", "lead.stage_changed"])
    webhooks.create_subscription(hook.url + "/other", ["reward.issued"])
    paused = webhooks.create_subscription(hook.url + "/paused", ["referral.created"])
    webhooks.set_active(paused, False)
    ref = referral(program(), f.user())
    db.session.commit()
    reward_jobs.referral_submitted(ref.id)
    reward_jobs.referral_submitted(ref.id)
    (delivery,) = deliveries(db)
    assert delivery.event == "referral.created" and delivery.status == "pending"
    assert DATA_SCHEMAS["referral.created"]().validate(delivery.payload["data"]) == {}
    assert delivery.payload["data"]["lead"]["stage"] == "new"


def test_a_down_receiver_is_logged_without_a_response_code(db, program, referral, receiver):
    hook = receiver()
    url = hook.url
    hook.close()  # nothing listens any more
    sub = webhooks.create_subscription(url, ["referral.created"])
    webhooks.publish("referral.created", {"referral_id": 1}, key="referral.created:1")
    (delivery,) = deliveries(db)
    assert webhooks.attempt(delivery, sub) is False
    assert delivery.response_code is None and delivery.last_error
    assert db.session.scalar(select(func.count(WebhookDelivery.id))) == 1


def test_payload_schemas_are_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").json
    names = set(spec["components"]["schemas"])
    assert {"WebhookEnvelope", "ReferralCreatedData", "LeadStageChangedData", "SlaBreachedData",
            "RewardEventData", "PurchaseMatchedData"} <= names
    assert "/api/v1/webhooks/events" in spec["paths"]
