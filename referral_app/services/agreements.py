"""The SLA agreement as a versioned contract: drafts, dual sign-off, versions in force, diffs."""
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select, text

from referral_app.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from referral_app.extensions import db
from referral_app.models import Agreement, AgreementSignoff, Calendar, User
from referral_app.models.agreement import CLOCK_KINDS
from referral_app.models.base import utcnow

# (field, label, kind, low, high): the terms a version carries, in the order pages show them.
TERMS = [
    ("calendar_id", "Business calendar", "calendar", None, None),
    ("first_attempt_hours", "First attempt within (hours)", "decimal", "0.25", "720"),
    ("first_attempt_clock", "First-attempt clock", "choice", None, None),
    ("max_attempts", "Attempts at most", "int", 1, 50),
    ("attempt_window_days", "Attempt window (days)", "int", 1, 365),
    ("decision_hours", "Accept or reject within (hours)", "decimal", "0.25", "720"),
    ("auto_reassign", "Reassign automatically on breach", "bool", None, None),
    ("monthly_qualified_leads", "MQLs per month", "int", 0, 100000),
    ("min_acceptance_rate", "Minimum acceptance rate", "rate", "0", "1"),
    ("review_cadence_days", "Review every (days)", "int", 1, 365),
    ("notes", "Notes", "text", None, 5000),
]
SIDE_OF_ROLE = {"marketing": "marketing", "sales_manager": "sales"}


def _term(name, kind, low, high, value, errors):
    if kind == "calendar":
        if not isinstance(value, int) or db.session.get(Calendar, value) is None:
            errors[name] = ["Choose an existing business calendar."]
        return value
    if kind == "choice":
        if value not in CLOCK_KINDS:
            errors[name] = [f"Choose one of: {', '.join(CLOCK_KINDS)}."]
        return value
    if kind == "bool":
        return bool(value)
    if kind == "text":
        value = "" if value is None else str(value)
        if len(value) > high:
            errors[name] = [f"Use at most {high} characters."]
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[name] = [f"Enter a whole number from {low} to {high}."]
        return value
    try:
        number = Decimal(str(value))
        if not Decimal(low) <= number <= Decimal(high) or (kind == "decimal" and number <= 0):
            raise ValueError
    except (InvalidOperation, ValueError, TypeError):
        errors[name] = [f"Enter a number from {low} to {high}."]
        return value
    return number


def clean(data: dict, base: Agreement | None = None) -> dict:
    """Validated terms for a new version; terms not in `data` are taken from `base`."""
    errors: dict = {}
    product = (data.get("product") or (base.product if base else "") or "").strip()
    if not product or len(product) > 100:
        errors["product"] = ["Name the product (at most 100 characters)."]
    values = {"product": product}
    defaults = {"first_attempt_clock": "business", "auto_reassign": False, "notes": "",
                "review_cadence_days": 14, "first_attempt_hours": Decimal("5"), "max_attempts": 4,
                "attempt_window_days": 16, "decision_hours": Decimal("8"),
                "monthly_qualified_leads": 0, "min_acceptance_rate": Decimal("0.6")}
    for name, _, kind, low, high in TERMS:
        if name in data and data[name] is not None:
            value = data[name]
        elif base is not None:
            value = getattr(base, name)
        elif name in defaults:
            value = defaults[name]
        else:
            errors[name] = ["This field is required."]
            continue
        values[name] = _term(name, kind, low, high, value, errors)
    if errors:
        raise ValidationFailed("Some terms of the agreement are not valid.", errors)
    return values


def _lock(product: str) -> None:
    """Serialise version numbering per product (PostgreSQL; SQLite has one writer anyway)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:p))"), {"p": "agreement:" + product})


def _next_version(product: str) -> int:
    return (db.session.scalar(select(func.max(Agreement.version))
                              .where(Agreement.product == product)) or 0) + 1


def current(product: str) -> Agreement | None:
    """The version in force for `product`."""
    return db.session.scalar(select(Agreement).where(Agreement.product == product,
                                                     Agreement.status == "in_force")
                             .order_by(Agreement.version.desc()).limit(1))


def pending(product: str) -> Agreement | None:
    """The draft waiting for sign-off, if any (the newest)."""
    return db.session.scalar(select(Agreement).where(Agreement.product == product,
                                                     Agreement.status == "draft")
                             .order_by(Agreement.version.desc()).limit(1))


def history(product: str) -> list[Agreement]:
    return list(db.session.scalars(select(Agreement).where(Agreement.product == product)
                                   .order_by(Agreement.version.desc())))


def _put_in_force(agreement: Agreement, at: datetime) -> None:
    # Older versions stop: the one in force is superseded, unsigned older drafts are dropped.
    for older in db.session.scalars(select(Agreement).where(
            Agreement.product == agreement.product, Agreement.id != agreement.id,
            Agreement.status.in_(("in_force", "draft")), Agreement.version < agreement.version)):
        older.status = "superseded"
    agreement.status = "in_force"
    agreement.effective_at = at
    db.session.flush()


def publish(data: dict, created_by_id: int | None, at: datetime | None = None) -> Agreement:
    """A new version in force at once (the API's POST /agreements), recording who created it."""
    product = (data.get("product") or "").strip()
    _lock(product)
    base = current(product) if product else None
    if base is None and data.get("calendar_id") is None:
        raise ValidationFailed("Some terms of the agreement are not valid.",
                               {"calendar_id": ["The first version of an agreement names its calendar."]})
    values = clean(data, base)
    agreement = Agreement(**values, version=_next_version(product), status="draft",
                          created_by_id=created_by_id, created_at=at or utcnow())
    db.session.add(agreement)
    db.session.flush()
    _put_in_force(agreement, at or utcnow())
    return agreement


def propose(data: dict, created_by_id: int | None, at: datetime | None = None) -> Agreement:
    """Editing the agreement: a new draft version, in force only once both sides sign it."""
    product = (data.get("product") or "").strip()
    _lock(product)
    base = (pending(product) or current(product)) if product else None
    values = clean(data, base)
    at = at or utcnow()
    for draft in db.session.scalars(select(Agreement).where(Agreement.product == product,
                                                            Agreement.status == "draft")):
        draft.status = "superseded"  # a newer proposal replaces an unsigned one
    agreement = Agreement(**values, version=_next_version(product), status="draft",
                          created_by_id=created_by_id, created_at=at)
    db.session.add(agreement)
    db.session.flush()
    return agreement


def sign(agreement: Agreement, user: User, at: datetime | None = None) -> AgreementSignoff:
    """Record `user`'s side signing the draft; with both sides signed, it is in force."""
    side = SIDE_OF_ROLE.get(user.role)
    if side is None:
        raise Forbidden("Only marketing and a sales manager sign the agreement.")
    if agreement.status != "draft":
        raise InvalidTransition(f"Version {agreement.version} is {agreement.status.replace('_', ' ')}; "
                                "only a draft can be signed.", fields={"status": [agreement.status]})
    if any(s.side == side for s in agreement.signoffs):
        raise Conflict(f"The {side} side has already signed version {agreement.version}.",
                       code="duplicate")
    at = at or utcnow()
    signoff = AgreementSignoff(agreement=agreement, side=side, user_id=user.id, signed_at=at)
    db.session.add(signoff)
    db.session.flush()
    if {s.side for s in agreement.signoffs} >= set(SIDE_OF_ROLE.values()):
        _put_in_force(agreement, at)
    return signoff


def shown(name: str, value) -> str:
    """A term's value as people read it."""
    if value is None:
        return "—"
    if name == "calendar_id":
        calendar = db.session.get(Calendar, value)
        return calendar.name if calendar else str(value)
    if name == "min_acceptance_rate":
        return f"{Decimal(value) * 100:.0f}%"
    if name == "auto_reassign":
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{value.normalize():f}"
    return str(value)


def diff(old: Agreement | None, new: Agreement) -> list[tuple[str, str, str]]:
    """[(label, before, after)] for every term that differs between two versions."""
    changes = []
    for name, label, *_ in TERMS:
        before = getattr(old, name) if old is not None else None
        after = getattr(new, name)
        if before != after:
            changes.append((label, shown(name, before) if old is not None else "—", shown(name, after)))
    return changes


def describe(agreement: Agreement) -> dict[str, str]:
    """Both sides of the agreement in plain words, for the glossary and the agreement page."""
    a = agreement
    hours = "business hours" if a.first_attempt_clock == "business" else "hours"
    return {
        "marketing": (f"Marketing delivers {a.monthly_qualified_leads} marketing-qualified leads "
                      f"(MQLs) for {a.product} each month, and at least "
                      f"{shown('min_acceptance_rate', a.min_acceptance_rate)} of them are accepted "
                      "by sales."),
        "sales": (f"Sales makes the first attempt within {shown('x', a.first_attempt_hours)} {hours} "
                  f"of assignment, makes at most {a.max_attempts} attempts within "
                  f"{a.attempt_window_days} days, and accepts or rejects each lead within "
                  f"{shown('x', a.decision_hours)} {hours}."),
        "terms": (f"Working time follows the '{shown('calendar_id', a.calendar_id)}' calendar; "
                  f"both teams review the agreement every {a.review_cadence_days} days."),
    }
