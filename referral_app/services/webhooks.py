"""Outbound webhooks: subscriptions, one logged delivery per event, HMAC-signed HTTP posts."""
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from referral_app.errors import ValidationFailed
from referral_app.extensions import db
from referral_app.jobs import enqueue_after_commit
from referral_app.models import (
    Lead,
    Program,
    Purchase,
    Referral,
    Reward,
    WebhookDelivery,
    WebhookSubscription,
)
from referral_app.models.base import utcnow
from referral_app.models.notification import WEBHOOK_EVENTS

SIGNATURE_HEADER = "X-Interlock-Signature"
TIMEOUT_SECONDS = 5  # a slow receiver must not hold a worker (and a row lock) for long


# ---- subscriptions ---------------------------------------------------------------------

def create_subscription(url: str, events: list[str]) -> WebhookSubscription:
    url = (url or "").strip()
    parts = urlsplit(url)
    errors = {}
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 500:
        errors["url"] = ["Enter an http:// or https:// address."]
    unknown = sorted(set(events or ()) - set(WEBHOOK_EVENTS))
    if not events or unknown:
        errors["events"] = [f"Choose from: {', '.join(WEBHOOK_EVENTS)}."]
    if errors:
        raise ValidationFailed("Some fields are not valid.", errors)
    sub = WebhookSubscription(url=url, events=[e for e in WEBHOOK_EVENTS if e in events],
                              secret=secrets.token_hex(32))
    db.session.add(sub)
    db.session.flush()
    return sub


def set_active(sub: WebhookSubscription, active: bool) -> None:
    sub.active = active
    db.session.flush()


# ---- publishing and delivery -----------------------------------------------------------

def publish(event: str, data: dict, key: str) -> int:
    """Log one delivery per active subscription to `event`; each is sent by an RQ job.

    `key` names the cause (e.g. "reward.approved:12"): publishing it again adds nothing,
    and receivers get it as the envelope's `id` to drop duplicates of their own.
    """
    if event not in WEBHOOK_EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    subs = [s for s in db.session.scalars(select(WebhookSubscription)
                                          .where(WebhookSubscription.active.is_(True)))
            if event in (s.events or [])]
    created = 0
    for sub in subs:
        dedupe = f"{key}:{sub.id}"[:200]
        if db.session.scalar(select(WebhookDelivery.id)
                             .where(WebhookDelivery.dedupe_key == dedupe)) is not None:
            continue
        delivery = WebhookDelivery(subscription_id=sub.id, event=event, dedupe_key=dedupe,
                                   payload={"id": key, "event": event,
                                            "occurred_at": utcnow().isoformat(), "data": data})
        try:
            with db.session.begin_nested():
                db.session.add(delivery)
                db.session.flush()
        except IntegrityError:
            continue  # a concurrent job logged it first
        # Idempotent jobs, so no job ids (which outlive a database that restarts its ids).
        enqueue_after_commit("referral_app.jobs.webhooks.dispatch", delivery.id, retries=0)
        created += 1
    return created


def redeliver(delivery: WebhookDelivery) -> None:
    """Send a delivery again (an admin's button), with fresh retries."""
    delivery.status = "pending"
    db.session.flush()
    enqueue_after_commit("referral_app.jobs.webhooks.dispatch", delivery.id, retries=0)


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, body: bytes) -> str:
    """The signature header value: sha256=<hex HMAC-SHA256 of the exact body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would turn the POST into a GET elsewhere: count it as a failed delivery.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def attempt(delivery: WebhookDelivery, sub: WebhookSubscription) -> bool:
    """POST the delivery once and log the outcome on it; True when the receiver said 2xx."""
    body = body_of(delivery)
    request = urllib.request.Request(sub.url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "User-Agent": "Interlock-Webhooks/1",
        "X-Interlock-Event": delivery.event,
        "X-Interlock-Delivery": str(delivery.id),
        SIGNATURE_HEADER: sign(sub.secret, body),
    })
    delivery.attempts += 1
    code, error = None, None
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            code = response.status
    except urllib.error.HTTPError as exc:
        code, error = exc.code, f"HTTP {exc.code} {exc.reason}"[:500]
        exc.close()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = str(getattr(exc, "reason", exc))[:500] or exc.__class__.__name__
    ok = code is not None and 200 <= code < 300
    delivery.response_code, delivery.last_error = code, None if ok else error
    delivery.status = "delivered" if ok else "failed"
    delivery.delivered_at = utcnow() if ok else None
    db.session.flush()
    return ok


# ---- payloads (documented in schemas/webhooks.py) --------------------------------------

def _iso(value):
    return value.isoformat() if value is not None else None


def _money(value):
    return f"{value:.2f}" if value is not None else None


def referral_payload(referral: Referral) -> dict:
    lead = referral.lead
    return {
        "referral_id": referral.id, "program": referral.program.slug,
        "referrer_id": referral.referrer_id, "source": referral.source,
        "status": referral.status, "created_at": _iso(referral.created_at),
        "referee": {"name": referral.referee_name, "email": referral.referee_email,
                    "company": referral.referee_company},
        "lead": {"id": lead.id, "stage": lead.stage} if lead is not None else None,
    }


def stage_payload(event) -> dict:
    lead = event.lead
    return {
        "lead_id": lead.id, "referral_id": lead.referral_id, "program": lead.program.slug,
        "from_stage": event.from_stage, "to_stage": event.to_stage,
        "actor_id": event.actor_id, "reason": event.reason, "at": _iso(event.at),
    }


def reward_payload(reward: Reward) -> dict:
    program = db.session.get(Program, reward.program_id)
    return {
        "reward_id": reward.id, "referral_id": reward.referral_id, "program": program.slug,
        "referrer_id": reward.referrer_id, "side": reward.side, "kind": reward.kind,
        "trigger": reward.trigger, "status": reward.status, "amount": _money(reward.amount),
        "currency": reward.currency, "coupon_code": reward.coupon_code,
        "approved_at": _iso(reward.approved_at), "issued_at": _iso(reward.issued_at),
    }


def purchase_payload(purchase: Purchase) -> dict:
    lead = db.session.scalar(select(Lead).where(Lead.referral_id == purchase.referral_id))
    return {
        "purchase_id": purchase.id, "external_id": purchase.external_id,
        "referral_id": purchase.referral_id, "lead_id": lead.id if lead else None,
        "matched_by": purchase.matched_by, "amount": _money(purchase.amount),
        "currency": purchase.currency, "purchased_at": _iso(purchase.purchased_at),
    }


def sla_payload(clock) -> dict:
    return {
        "clock_id": clock.id, "lead_id": clock.lead_id, "kind": clock.kind,
        "owner_id": clock.owner_id, "due_at": _iso(clock.due_at),
        "breached_at": _iso(clock.breached_at),
    }


def publish_sla_breached(clock) -> int:
    """For the SLA sweep: `sla.breached` once per breached clock."""
    return publish("sla.breached", sla_payload(clock), key=f"sla.breached:{clock.id}")
