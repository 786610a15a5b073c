"""MQL qualification: score a lead with its product's definition and move it to mql."""
from datetime import datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from referral_app.extensions import db
from referral_app.models import Lead, LeadEvent, MqlDefinition
from referral_app.models.base import utcnow
from referral_app.services.stages import enqueue_follow_up, stage_event

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


MEETS_DEFINITION = "meets the MQL definition"  # the reason of a move to mql by score

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
    """The product's definition with its rules, in one query."""
    return db.session.scalars(
        select(MqlDefinition).where(MqlDefinition.product == product)
        .options(joinedload(MqlDefinition.rules))).unique().first()


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


def assess(lead: Lead, definition: MqlDefinition | None,
           at: datetime | None = None) -> LeadEvent | None:
    """Score the lead under `definition`; the unflushed move to mql when the program says so
    or the score reaches the bar (None when the lead stays where it is)."""
    lead.score, lead.score_rules = score(lead, definition)
    on_arrival = bool(lead.program.mql_on_arrival)
    meets = on_arrival or (definition is not None and lead.score >= definition.threshold)
    if not (meets and lead.stage == "new"):
        return None
    return stage_event(lead, "mql", actor_id=None, at=at or utcnow(),
                       reason="the program declares referred leads MQL on arrival"
                       if on_arrival else MEETS_DEFINITION,
                       data={"score": lead.score, "rules": lead.score_rules})


def qualify(lead: Lead) -> bool:
    """Score a lead already stored and move it to mql when it qualifies (flushed)."""
    event = assess(lead, definition_for(lead.product))  # one row for score and threshold
    if event is not None:
        db.session.add(event)
    db.session.flush()
    if event is not None:
        enqueue_follow_up(event)
    return event is not None
