"""Fraud holds: why a reward is created `held` for marketing's review, with the evidence."""
import functools
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from referral_app.extensions import db
from referral_app.models import Lead, Purchase, Referral, User

# Many distinct referees from one IP address or one device inside this window look like
# one person inventing friends; an office sharing a NAT rarely refers this many so fast.
SHARED_SOURCE_LIMIT = 3
SHARED_SOURCE_DAYS = 30
GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}

REASONS = {
    "self_referral": "The referee's e-mail is a variant of the referrer's own.",
    "disposable_email": "The referee uses a disposable e-mail address.",
    "existing_customer": "The referee was already a customer.",
    "shared_ip": "Several referees came from the same IP address.",
    "shared_device": "Several referees came from the same device.",
    "purchase_before_referral": "The referee bought before they were referred.",
    "no_deal_value": "No deal or purchase value to compute the percentage from.",
}


def describe(reason: str) -> str:
    return REASONS.get(reason, reason.replace("_", " "))


def canonical_email(email: str | None) -> str:
    """One spelling per mailbox: lower case, no +tag, and no dots for Gmail."""
    local, _, domain = (email or "").strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


@functools.cache
def disposable_domains() -> frozenset[str]:
    path = Path(__file__).with_name("disposable_domains.txt")
    lines = (line.strip().lower() for line in path.read_text().splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))


def is_disposable(email: str | None) -> bool:
    domain = (email or "").rpartition("@")[2].lower()
    parts = domain.split(".")
    # mail.yopmail.com is as throw-away as yopmail.com
    return any(".".join(parts[i:]) in disposable_domains() for i in range(len(parts) - 1))


def hold_reasons(referral: Referral, purchase: Purchase | None = None) -> list[str]:
    """The reasons to hold a reward for this referral (empty when it looks honest)."""
    reasons = list(referral.hold_reasons or [])  # intake's own holds carry over
    email = canonical_email(referral.referee_email)
    referrer = db.session.get(User, referral.referrer_id) if referral.referrer_id else None
    if referrer is not None and canonical_email(referrer.email) == email:
        reasons.append("self_referral")
    if is_disposable(referral.referee_email):
        reasons.append("disposable_email")
    if _already_customer(referral):
        reasons.append("existing_customer")
    if len(shared_referees(referral, "ip")) >= SHARED_SOURCE_LIMIT:
        reasons.append("shared_ip")
    if len(shared_referees(referral, "fingerprint")) >= SHARED_SOURCE_LIMIT:
        reasons.append("shared_device")
    if purchase is not None and purchase.purchased_at < referral.created_at \
            or earlier_purchases(referral):
        reasons.append("purchase_before_referral")
    return list(dict.fromkeys(reasons))


def _already_customer(referral: Referral) -> bool:
    # E-mails are stored lower-cased (intake, users, purchases): plain equality uses their
    # indexes, where lower(column) read the whole table (~0.3 s a referral at 1M leads).
    email = referral.referee_email.strip().lower()
    customer = db.session.scalar(select(User.id).where(
        User.email == email, User.role == "referrer", User.kind == "customer"))
    if customer is not None:
        return True
    won_before = db.session.scalar(select(Lead.id).where(
        Lead.email == email, Lead.stage == "won", Lead.referral_id != referral.id,
        Lead.closed_at < referral.created_at).limit(1))
    return won_before is not None


def shared_referees(referral: Referral, column: str) -> list[str]:
    """Distinct referee e-mails from the same IP (`ip`) or device (`fingerprint`)."""
    value = getattr(referral, column)
    if not value:
        return []
    window = timedelta(days=SHARED_SOURCE_DAYS)
    rows = db.session.scalars(
        select(func.lower(Referral.referee_email)).distinct()
        .where(getattr(Referral, column) == value,
               Referral.created_at >= referral.created_at - window,
               Referral.created_at <= referral.created_at + window)
        .limit(50))
    return sorted(rows)


def earlier_purchases(referral: Referral) -> list[Purchase]:
    return list(db.session.scalars(
        select(Purchase).where(Purchase.email == referral.referee_email.strip().lower(),
                               Purchase.purchased_at < referral.created_at)
        .order_by(Purchase.purchased_at).limit(5)))


def evidence(referral: Referral, reasons: list[str]) -> list[tuple[str, str]]:
    """(what, detail) pairs that show marketing why each reason was raised."""
    out = []
    referrer = db.session.get(User, referral.referrer_id) if referral.referrer_id else None
    for reason in reasons:
        detail = ""
        if reason == "self_referral" and referrer is not None:
            detail = f"referrer {referrer.email}, referee {referral.referee_email}"
        elif reason == "disposable_email":
            detail = referral.referee_email.rpartition("@")[2]
        elif reason == "shared_ip":
            detail = f"{referral.ip}: " + ", ".join(shared_referees(referral, "ip"))
        elif reason == "shared_device":
            detail = f"device {referral.fingerprint[:12]}: " + ", ".join(
                shared_referees(referral, "fingerprint"))
        elif reason == "purchase_before_referral":
            detail = ", ".join(f"{p.external_id} on {p.purchased_at:%Y-%m-%d}"
                               for p in earlier_purchases(referral))
        elif reason == "existing_customer":
            detail = referral.referee_email
        out.append((describe(reason), detail))
    return out
