"""Intake checks: validation and normalisation, the refusals with their codes, velocity holds."""
from datetime import datetime, timedelta
from decimal import Decimal

import marshmallow as ma
from sqlalchemy import func, select, union

from referral_app.errors import Conflict, Duplicate, Forbidden, NotFound, ValidationFailed
from referral_app.extensions import db
from referral_app.models import Lead, Program, Purchase, Referral, RefusedReferral, User
from referral_app.schemas.referrals import SubmissionIn
from referral_app.services import driver_sql

# The refusals marketing reviews (each also the `error.code` the caller gets):
#   duplicate 409, self_referral 422, kind_not_allowed 403, program_inactive 409,
#   consent_required 422. Plain invalid input (422 "invalid") is a typo, not a refusal.
REFUSAL_CODES = frozenset({"duplicate", "self_referral", "kind_not_allowed", "program_inactive",
                           "consent_required"})
DUPLICATE_MESSAGE = "We are already in touch with this person."
CONSENT_MESSAGE = "Confirm that this person agreed to be contacted."

# Personal mailbox providers: sharing one is not sharing a company.
FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
    "yahoo.com", "ymail.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me",
    "protonmail.com", "gmx.com", "gmx.de", "web.de", "mail.com", "zoho.com", "yandex.com",
})

_schema = SubmissionIn()


def is_refusal(exc: Exception) -> bool:
    """Whether `exc` is a recorded refusal (the caller commits to keep the record)."""
    return getattr(exc, "code", None) in REFUSAL_CODES


def program_key(ref) -> int | str | None:
    """How a program reference is read: an id, or a slug without its surrounding spaces."""
    if isinstance(ref, int):
        return ref
    if isinstance(ref, str):
        return ref.strip() or None
    return None


def no_such_program() -> NotFound:
    return NotFound("There is no such program.", fields={"program": ["Unknown program."]})


def resolve_program(ref) -> Program:
    """A Program from itself, its id or its slug; NotFound when there is none."""
    if isinstance(ref, Program):
        return ref
    key = program_key(ref)
    program = None
    if isinstance(key, int):
        program = db.session.get(Program, key)
    elif key:
        program = db.session.scalar(select(Program).where(Program.slug == key))
    if program is None:
        raise no_such_program()
    return program


def flatten(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as the contract's one level: {"referee.email": [...]}."""
    out: dict[str, list[str]] = {}
    for key, value in (messages or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, prefix=f"{name}."))
        else:
            out[name] = [str(v) for v in (value if isinstance(value, list) else [value])]
    return out


def clean(referee: dict, *, note: str | None = "", consent: bool = False,
          company_size=None, deal_value=None) -> dict:
    """Validated, normalised submission ({referee: {...}, note, consent, company_size,
    deal_value}); ValidationFailed with every field's message otherwise."""
    raw = {"referee": referee if isinstance(referee, dict) else {}, "note": note,
           "consent": bool(consent), "company_size": company_size, "deal_value": deal_value}
    try:
        return _schema.load(raw)
    except ma.ValidationError as exc:
        fields = flatten(exc.messages)
        if not consent:
            fields["consent"] = [CONSENT_MESSAGE]  # shown with the rest, not after a resubmit
        raise ValidationFailed("Some fields are not valid.", fields) from None


def check_program(program: Program, referrer: User | None) -> None:
    """The program takes referrals, and from this kind of referrer."""
    if not program.is_open:
        raise Conflict("This program is not taking referrals right now.", code="program_inactive")
    kinds = program.referrer_kinds or []
    if referrer is not None and referrer.kind not in kinds:
        allowed = " and ".join(f"{k}s" for k in kinds) or "nobody"
        raise Forbidden(f"This program is open to {allowed} only.", code="kind_not_allowed")


def check_consent(consent: bool) -> None:
    if not consent:
        raise ValidationFailed(CONSENT_MESSAGE, {"consent": [CONSENT_MESSAGE]},
                               code="consent_required")


def domain_of(email: str) -> str:
    return (email or "").rpartition("@")[2].lower()


def check_self_referral(program: Program, referrer: User | None, email: str) -> None:
    """Referrers may not refer themselves, nor (when the program says so) their own company."""
    if referrer is None:
        return
    mine = (referrer.email or "").lower()
    same_company = (program.block_same_domain and domain_of(mine) == domain_of(email)
                    and domain_of(email) not in FREE_MAIL)
    if email == mine or same_company:
        message = ("You cannot refer yourself." if email == mine
                   else "You cannot refer someone from your own company in this program.")
        raise ValidationFailed(message, {"referee.email": [message]}, code="self_referral")


def known_emails(emails) -> set[str]:
    """Of `emails`, those already an open lead or a customer (a purchase, or a won lead)."""
    emails = list({e for e in emails if e})
    if not emails:
        return set()
    if db.session.get_bind().dialect.name == "postgresql":
        # One statement text whatever the number of e-mails (an IN list has one per
        # number): PostgreSQL plans it once per connection, psycopg prepares it.
        return {row[0] for row in driver_sql.rows(KNOWN_EMAILS, (emails,))}
    query = union(
        select(Lead.open_email.label("email")).where(Lead.open_email.in_(emails)),
        select(Lead.email).where(Lead.email.in_(emails), Lead.stage == "won"),
        select(Purchase.email).where(Purchase.email.in_(emails)),
    )
    return set(db.session.scalars(query))


KNOWN_EMAILS = """
WITH asked AS (SELECT unnest(%s::text[]) AS email)
SELECT open_email FROM leads WHERE open_email IN (SELECT email FROM asked)
UNION SELECT email FROM leads WHERE stage = 'won' AND email IN (SELECT email FROM asked)
UNION SELECT email FROM purchases WHERE email IN (SELECT email FROM asked)
"""


def check_duplicate(email: str, known: set[str] | None = None) -> None:
    """Refuse an e-mail that is an open lead or a customer; `known` is a batch's pre-loaded set.

    This check gives the friendly answer; the unique `Lead.open_email` is what holds under
    concurrency (see intake.submit).
    """
    hit = email in known if known is not None else bool(known_emails([email]))
    if hit:
        raise Duplicate(DUPLICATE_MESSAGE, fields={"referee.email": [DUPLICATE_MESSAGE]})


def velocity_holds(program: Program, referrer_id: int | None, ip: str | None,
                   at: datetime) -> list[str]:
    """Why this referral should be held for review (empty when it should not).

    Counts the program's referrals: by the referrer in the last hour against
    `velocity_per_hour`, and from the IP in the last 24 hours against `velocity_per_ip`
    (this one included). A limit of 0 or NULL means no limit.
    """
    limits = []  # (reason, limit, who sent it recently): both counted in one statement
    count = select(func.count(Referral.id)).where(Referral.program_id == program.id)
    if referrer_id and program.velocity_per_hour:
        limits.append(("referrer_velocity", program.velocity_per_hour, count.where(
            Referral.referrer_id == referrer_id, Referral.created_at > at - timedelta(hours=1))))
    if ip and program.velocity_per_ip:
        limits.append(("ip_velocity", program.velocity_per_ip, count.where(
            Referral.ip == ip, Referral.created_at > at - timedelta(hours=24))))
    if not limits:
        return []
    recent = db.session.execute(select(*(q.scalar_subquery() for _, _, q in limits))).one()
    return [reason for (reason, limit, _), n in zip(limits, recent, strict=True) if n + 1 > limit]


def _plain(value):
    if isinstance(value, Decimal | datetime):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def record_refusal(exc: Exception, program: Program | None, referrer_id: int | None,
                   source: str, attempt: dict, ip: str | None, at: datetime) -> None:
    """When `exc` is a refusal, the record of the attempt (its `referee`'s e-mail as sent)."""
    if is_refusal(exc):
        referee = attempt.get("referee")
        email = referee.get("email") if isinstance(referee, dict) else None
        refusal(program, referrer_id, source, exc.code, str(email or "").strip().lower(),
                attempt, ip, at)


def refusal(program: Program | None, referrer_id: int | None, source: str, reason: str,
            email: str | None, payload: dict, ip: str | None, at: datetime) -> RefusedReferral:
    """The record of a refused attempt, for marketing's review (flushed, not committed)."""
    row = RefusedReferral(program_id=program.id if program else None, referrer_id=referrer_id,
                          source=source, reason=reason, email=(email or "")[:254] or None,
                          payload=_plain(payload), ip=ip, created_at=at)
    db.session.add(row)
    db.session.flush()
    return row
