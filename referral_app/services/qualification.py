"""MQL qualification: score a lead with its product's definition and move it to mql."""
from sqlalchemy import select

from referral_app.extensions import db
from referral_app.models import Lead, MqlDefinition
from referral_app.services.stages import change_stage


def _value(lead: Lead, field: str):
    referral = lead.referral
    if field == "source":
        return "referral"
    if field in ("company_size", "deal_value", "note"):
        return getattr(referral, field)
    return getattr(referral, f"referee_{field}", None)


def _fires(op: str, actual, expected) -> bool:
    if actual is None:
        return False
    try:
        if op == "contains":
            return str(expected).lower() in str(actual).lower()
        if op == "in":
            return str(actual).lower() in {str(v).lower() for v in expected}
        if op in ("=", "!="):
            same = str(actual).lower() == str(expected).lower()
            return same if op == "=" else not same
        a, b = float(actual), float(expected)
        return {">=": a >= b, "<=": a <= b, ">": a > b, "<": a < b}[op]
    except (TypeError, ValueError, KeyError):
        return False


def score(lead: Lead) -> tuple[int, list[dict]]:
    """(points, the rules that fired) under the product's MQL definition."""
    definition = db.session.scalar(select(MqlDefinition).where(MqlDefinition.product == lead.product))
    if definition is None:
        return 0, []
    fired = [
        {"field": r.field, "operator": r.operator, "value": r.value, "points": r.points}
        for r in definition.rules if _fires(r.operator, _value(lead, r.field), r.value)
    ]
    return sum(r["points"] for r in fired), fired


def qualify(lead: Lead) -> bool:
    """Score the lead; move it to mql when the program says so or the score reaches the bar."""
    lead.score, lead.score_rules = score(lead)
    definition = db.session.scalar(select(MqlDefinition).where(MqlDefinition.product == lead.product))
    meets = lead.program.mql_on_arrival or (
        definition is not None and lead.score >= definition.threshold)
    if meets and lead.stage == "new":
        change_stage(lead, "mql", reason="meets the MQL definition" if not lead.program.mql_on_arrival
                     else "the program declares referred leads MQL on arrival",
                     data={"score": lead.score})
        return True
    db.session.flush()
    return False
