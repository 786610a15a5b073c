"""Privacy: consent withdrawal, and an admin's export and erasure of one e-mail's data."""
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from referral_app.extensions import db
from referral_app.models import (
    Attempt,
    AuditEntry,
    Lead,
    Notification,
    Purchase,
    Referral,
    RefusedReferral,
    Reward,
    User,
)
from referral_app.models.base import utcnow
from referral_app.services.auth import normalise_email
from referral_app.services.stages import can_move, change_stage

ERASED = "erased"


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="interlock-consent")


def withdrawal_token(secret: str, email: str) -> str:
    """A token for the e-mail's withdraw link: signed, so nobody can withdraw for others."""
    return _serializer(secret).dumps(normalise_email(email))


def email_from_token(secret: str, token: str) -> str | None:
    try:
        return _serializer(secret).loads(token)
    except BadSignature:
        return None


def withdraw_consent(email: str) -> int:
    """Record the withdrawal on every referral of the e-mail and stop open leads; how many."""
    email = normalise_email(email)
    now = utcnow()
    referrals = db.session.scalars(select(Referral).where(Referral.referee_email == email)).all()
    for referral in referrals:
        referral.consent_withdrawn_at = referral.consent_withdrawn_at or now
        lead = referral.lead
        if lead is not None and lead.is_open and can_move(lead, "lost"):
            change_stage(lead, "lost", reason="The referee withdrew consent.", at=now)
            lead.close_reason = "consent withdrawn"
    db.session.flush()
    return len(referrals)


def export(email: str, actor_id: int | None = None) -> dict:
    """Everything Interlock holds about an e-mail address, as JSON-ready data."""
    email = normalise_email(email)
    referrals = db.session.scalars(select(Referral).where(Referral.referee_email == email)).all()
    leads = [r.lead for r in referrals if r.lead is not None]
    user = db.session.scalar(select(User).where(User.email == email))
    data = {
        "email": email,
        "account": _row(user, ("email", "name", "role", "kind", "company", "created_at")),
        "referrals": [_row(r, ("id", "program_id", "source", "status", "referee_name",
                               "referee_email", "referee_company", "referee_phone",
                               "referee_title", "referee_country", "note", "consent_at",
                               "consent_withdrawn_at", "created_at")) for r in referrals],
        "leads": [_row(lead, ("id", "stage", "received_at", "closed_at", "close_reason"))
                  for lead in leads],
        "attempts": [_row(a, ("lead_id", "channel", "outcome", "note", "at"))
                     for a in db.session.scalars(select(Attempt).where(
                         Attempt.lead_id.in_([lead.id for lead in leads]))).all()],
        "rewards": [_row(w, ("id", "side", "status", "amount", "currency", "coupon_code"))
                    for w in db.session.scalars(select(Reward).where(
                        Reward.referral_id.in_([r.id for r in referrals]))).all()],
        "purchases": [_row(p, ("external_id", "amount", "currency", "purchased_at"))
                      for p in db.session.scalars(select(Purchase).where(Purchase.email == email))],
        "notifications": [_row(n, ("kind", "subject", "created_at", "status"))
                          for n in db.session.scalars(select(Notification).where(
                              Notification.email == email))],
    }
    db.session.add(AuditEntry(actor_id=actor_id, action="privacy.export", subject=email))
    db.session.flush()
    return data


def erase(email: str, actor_id: int | None = None) -> dict:
    """Anonymise every personal field about the e-mail; counts and amounts stay for reports."""
    email = normalise_email(email)
    counts = {"referrals": 0, "purchases": 0, "notifications": 0, "refusals": 0}
    for referral in db.session.scalars(select(Referral).where(Referral.referee_email == email)):
        placeholder = f"erased-{referral.id}@erased.invalid"
        referral.referee_name, referral.referee_email = ERASED, placeholder
        referral.referee_company = referral.referee_phone = referral.referee_title = None
        referral.note, referral.ip, referral.fingerprint = "", None, None
        referral.consent_withdrawn_at = referral.consent_withdrawn_at or utcnow()
        lead: Lead | None = referral.lead
        if lead is not None:
            if lead.is_open and can_move(lead, "lost"):
                change_stage(lead, "lost", reason="Personal data erased on request.")
            lead.email, lead.open_email = placeholder, None
            for attempt in lead.attempts:
                attempt.note = ""
        counts["referrals"] += 1
    for purchase in db.session.scalars(select(Purchase).where(Purchase.email == email)):
        purchase.email = f"erased-p{purchase.id}@erased.invalid"
        counts["purchases"] += 1
    for note in db.session.scalars(select(Notification).where(Notification.email == email)):
        note.email, note.body = None, ""
        counts["notifications"] += 1
    for refused in db.session.scalars(select(RefusedReferral).where(RefusedReferral.email == email)):
        refused.email, refused.payload, refused.ip = None, {}, None
        counts["refusals"] += 1
    db.session.add(AuditEntry(actor_id=actor_id, action="privacy.erase", subject=f"{sum(counts.values())} rows"))
    db.session.flush()
    return counts


def _row(obj, fields) -> dict | None:
    if obj is None:
        return None
    out = {}
    for name in fields:
        value = getattr(obj, name)
        out[name] = value.isoformat() if hasattr(value, "isoformat") else (
            str(value) if value is not None and not isinstance(value, (int, str, bool)) else value)
    return out
