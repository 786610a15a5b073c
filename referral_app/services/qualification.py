"""MQL qualification: score a lead with its product's definition and move it to mql."""
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from referral_app.extensions import db
from referral_app.models import Lead, MqlDefinition
from referral_app.services.stages import change_stage

# The lead facts a scoring rule may test, with the words the glossary uses for them.
FIELDS = {
    "source": "source",
    "company_size": "company size",
    "title": "job title",
    "country": "country",
    "company": "company",
    "email": "e-mail address",
    "email_domain": "e-mail domain",
    "deal_value": "expected deal value",
    "note": "referrer's note",
}
NUMERIC_FIELDS = {"company_size", "deal_value"}


def _value(lead: Lead, field: str):
    referral = lead.referral
    if field == "source":
        return "referral"  # every lead here came through a referral program
    if field == "email_domain":
        return (lead.email or "").rpartition("@")[2] or None
    if field in ("company_size", "deal_value", "note"):
        return getattr(referral, field)
    return getattr(referral, f"referee_{field}", None)


def _number(value) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _options(expected) -> set[str]:
    items = expected.split(",") if isinstance(expected, str) else (expected or [])
    return {str(v).strip().lower() for v in items if str(v).strip()}


def fires(op: str, actual, expected) -> bool:
    """Whether one rule holds for a value; an unknown value never fires a rule."""
    if actual is None or actual == "":
        return False
    if op == "contains":
        return str(expected).strip().lower() in str(actual).lower()
    if op == "in":
        return str(actual).strip().lower() in _options(expected)
    a, b = _number(actual), _number(expected)
    if op in ("=", "!="):
        # 50 equals "50.0"; text compares without case or surrounding spaces.
        same = a == b if a is not None and b is not None else \
            str(actual).strip().lower() == str(expected).strip().lower()
        return same if op == "=" else not same
    if a is None or b is None:
        return False
    comparisons = {">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}
    return comparisons.get(op, False)


def definition_for(product: str) -> MqlDefinition | None:
    return db.session.scalar(select(MqlDefinition).where(MqlDefinition.product == product))


_LOOK_UP = object()


def score(lead: Lead, definition=_LOOK_UP) -> tuple[int, list[dict]]:
    """(points, the rules that fired) under the product's MQL definition (`definition` when
    the caller already read it; None means the product has none)."""
    if definition is _LOOK_UP:
        definition = definition_for(lead.product)
    if definition is None:
        return 0, []
    fired = [
        {"field": r.field, "operator": r.operator, "value": r.value, "points": r.points}
        for r in definition.rules if fires(r.operator, _value(lead, r.field), r.value)
    ]
    return sum(r["points"] for r in fired), fired


def qualify(lead: Lead) -> bool:
    """Score the lead; move it to mql when the program says so or the score reaches the bar."""
    definition = definition_for(lead.product)  # once: score and threshold read the same row
    lead.score, lead.score_rules = score(lead, definition)
    on_arrival = bool(lead.program.mql_on_arrival)
    meets = on_arrival or (definition is not None and lead.score >= definition.threshold)
    if meets and lead.stage == "new":
        change_stage(lead, "mql", reason="the program declares referred leads MQL on arrival"
                     if on_arrival else "meets the MQL definition",
                     data={"score": lead.score, "rules": lead.score_rules})
        return True
    db.session.flush()
    return False
