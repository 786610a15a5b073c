"""Lead definitions both teams agree on: MQL scoring per product, SQL checklist, rejection reasons."""
from sqlalchemy import select

from referral_app.errors import Duplicate, NotFound, ValidationFailed
from referral_app.extensions import db
from referral_app.models import MqlDefinition, RejectionReason, ScoringRule
from referral_app.models.definition import SCORING_OPERATORS
from referral_app.services.qualification import FIELDS, NUMERIC_FIELDS, definition_for

REASON_KINDS = {"reject": "rejecting a lead", "lost": "closing a lead as lost"}
OPERATOR_WORDS = {"=": "is", "!=": "is not", ">=": "is at least", "<=": "is at most",
                  ">": "is more than", "<": "is less than", "contains": "contains",
                  "in": "is one of"}
COMPARISONS = {">=", "<=", ">", "<"}
MAX_CHECKLIST = 20


def _clean_rule(raw: dict, problems: dict) -> dict:
    field, op = raw.get("field"), raw.get("operator")
    if field not in FIELDS:
        problems["field"] = [f"Choose one of: {', '.join(FIELDS)}."]
    if op not in SCORING_OPERATORS:
        problems["operator"] = [f"Choose one of: {', '.join(SCORING_OPERATORS)}."]
    value = raw.get("value")
    if op == "in":
        items = value.split(",") if isinstance(value, str) else value
        value = [str(v).strip() for v in items or [] if str(v).strip()] \
            if isinstance(items, list | tuple) else []
        if not value:
            problems["value"] = ["List the values, separated by commas (e.g. US, CA, GB)."]
    elif op in COMPARISONS or (field in NUMERIC_FIELDS and op in ("=", "!=")):
        try:
            number = float(str(value).strip())
            value = int(number) if number.is_integer() else number
        except (TypeError, ValueError):
            problems["value"] = ["Enter a number for this comparison."]
    else:
        value = str(value if value is not None else "").strip()
        if not value or len(value) > 200:
            problems["value"] = ["Enter the value to compare with (at most 200 characters)."]
    points = raw.get("points")
    if isinstance(points, bool) or not isinstance(points, int) or not -1000 <= points <= 1000:
        problems["points"] = ["Points are a whole number from -1000 to 1000."]
    return {"field": field, "operator": op, "value": value, "points": points}


def clean(threshold, rules, sql_checklist) -> tuple[int, list[dict], list[str]]:
    """Validated definition parts; ValidationFailed names each bad value (`rules.N.points`)."""
    errors: dict = {}
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= 10000:
        errors["threshold"] = ["The threshold is a whole number of points from 0 to 10000."]
    cleaned = []
    for index, raw in enumerate(rules or []):
        problems: dict = {}
        cleaned.append(_clean_rule(raw if isinstance(raw, dict) else {}, problems))
        errors.update({f"rules.{index}.{k}": v for k, v in problems.items()})
    checklist = []
    for item in sql_checklist or []:
        item = str(item).strip()
        if item and item not in checklist:
            checklist.append(item)
    if len(checklist) > MAX_CHECKLIST or any(len(i) > 200 for i in checklist):
        errors["sql_checklist"] = [f"At most {MAX_CHECKLIST} items of at most 200 characters."]
    if errors:
        raise ValidationFailed("The definition is not valid.", errors)
    return threshold, cleaned, checklist


def save_definition(product: str, threshold: int, rules: list[dict],
                    sql_checklist: list[str]) -> MqlDefinition:
    """Replace the product's MQL definition (scoring rules, threshold) and SQL checklist."""
    product = (product or "").strip()
    if not product or len(product) > 100:
        raise ValidationFailed("Name the product.", {"product": ["Name the product."]})
    threshold, rules, checklist = clean(threshold, rules, sql_checklist)
    definition = definition_for(product)
    if definition is None:
        definition = MqlDefinition(product=product)
        db.session.add(definition)
    definition.threshold = threshold
    definition.sql_checklist = checklist
    definition.rules = [ScoringRule(**rule) for rule in rules]
    db.session.flush()
    return definition


def all_definitions() -> list[MqlDefinition]:
    return list(db.session.scalars(select(MqlDefinition).order_by(MqlDefinition.product)))


def describe_rule(rule) -> str:
    """e.g. '+20 points when the company size is at least 50'."""
    sign = "+" if rule.points >= 0 else "−"
    return f"{sign}{abs(rule.points)} points when the {condition(rule.field, rule.operator, rule.value)}"


def condition(field: str, operator: str, value) -> str:
    """A scoring rule's test in words: 'company size is at least 50', 'country is one of
    US, CA or GB' (a lead's score_rules keep field, operator and value as they fired)."""
    if operator == "in":
        items = [str(v) for v in value or []]
        value = ", ".join(items[:-1]) + " or " + items[-1] if len(items) > 1 else "".join(items)
    elif isinstance(value, str):
        value = f'"{value}"'
    return f"{FIELDS.get(field, field)} {OPERATOR_WORDS.get(operator, operator)} {value}"


def reasons(kind: str | None = None, active_only: bool = True) -> list[RejectionReason]:
    """The reasons sales picks from; `kind` is 'reject' or 'lost'."""
    query = select(RejectionReason).order_by(RejectionReason.kind, RejectionReason.label)
    if kind:
        query = query.where(RejectionReason.kind == kind)
    if active_only:
        query = query.where(RejectionReason.active.is_(True))
    return list(db.session.scalars(query))


def add_reason(kind: str, label: str) -> RejectionReason:
    """A new reason, or an existing retired one brought back; a live duplicate is 409."""
    label = (label or "").strip()
    errors = {}
    if kind not in REASON_KINDS:
        errors["kind"] = ["Choose reject or lost."]
    if not label or len(label) > 200:
        errors["label"] = ["Write the reason (at most 200 characters)."]
    if errors:
        raise ValidationFailed("The reason is not valid.", errors)
    existing = db.session.scalar(select(RejectionReason).where(RejectionReason.kind == kind,
                                                               RejectionReason.label == label))
    if existing is not None:
        if existing.active:
            raise Duplicate(f"'{label}' is already a reason for {REASON_KINDS[kind]}.")
        existing.active = True
        db.session.flush()
        return existing
    reason = RejectionReason(kind=kind, label=label, active=True)
    db.session.add(reason)
    db.session.flush()
    return reason


def set_reason_active(reason_id: int, active: bool) -> RejectionReason:
    """Retire a reason (kept: past rejections name it) or bring it back."""
    reason = db.session.get(RejectionReason, reason_id)
    if reason is None:
        raise NotFound("No such reason.")
    reason.active = active
    db.session.flush()
    return reason
