"""Give-get reward rules of a program: validation, plain-language wording, safe replacement."""
from decimal import Decimal, InvalidOperation

from sqlalchemy import exists, select

from referral_app.errors import ValidationFailed
from referral_app.extensions import db
from referral_app.models import Program, Reward, RewardRule
from referral_app.models.program import REWARD_KINDS, REWARD_SIDES, REWARD_TRIGGERS
from referral_app.services.currencies import format_amount, format_number, is_currency

MAX_AMOUNT = Decimal("1000000")
MAX_HOLD_DAYS = 365

# How the referrer and the referee read each trigger ("... when they become a customer").
TRIGGER_WORDS = {
    "submitted": "when you refer them",
    "mql": "when they qualify as a lead",
    "sql": "when our sales team accepts them",
    "opportunity": "when they become a sales opportunity",
    "won": "when they become a customer",
    "purchase": "when they make a purchase",
}
# The same moments as the team says them (marketing's review of rewards).
TRIGGER_EVENTS = {
    "submitted": "on referral",
    "mql": "when the lead qualified",
    "sql": "when sales accepted the lead",
    "opportunity": "when the lead became an opportunity",
    "won": "when the referee became a customer",
    "purchase": "on the referee's purchase",
}


def _amount(value, kind: str, errors: list) -> Decimal | None:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.append("Enter an amount such as 100 or 12.50.")
        return None
    if not amount.is_finite() or amount <= 0:
        errors.append("The amount must be more than zero.")
    elif kind == "percent" and amount > 100:
        errors.append("A percentage cannot be more than 100.")
    elif amount > MAX_AMOUNT:
        errors.append(f"The amount cannot be more than {MAX_AMOUNT:,}.")
    else:
        return amount.quantize(Decimal("0.01"))
    return None


def _whole(value, low: int, high: int | None, errors: list, message: str) -> int | None:
    if isinstance(value, bool):
        errors.append(message)
        return None
    try:
        number = int(value)
        if number != Decimal(str(value)):
            raise ValueError
    except (TypeError, ValueError, InvalidOperation):
        errors.append(message)
        return None
    if number < low or (high is not None and number > high):
        errors.append(message)
        return None
    return number


def _clean_rule(raw: dict) -> tuple[dict, dict]:
    problems: dict[str, list] = {}

    def choice(name, allowed):
        value = raw.get(name)
        if value not in allowed:
            problems[name] = [f"Choose one of: {', '.join(allowed)}."]
        return value

    side, trigger = choice("side", REWARD_SIDES), choice("trigger", REWARD_TRIGGERS)
    kind = choice("kind", REWARD_KINDS)
    errors: list = []
    amount = _amount(raw.get("amount"), kind, errors)
    if errors:
        problems["amount"] = errors
    currency = str(raw.get("currency") or "USD").strip().upper()
    if not is_currency(currency):
        problems["currency"] = [f"{currency or 'That'} is not an ISO 4217 currency code (e.g. USD, EUR)."]
    cap = raw.get("cap_per_referrer")
    if cap not in (None, ""):
        errors = []
        cap = _whole(cap, 1, None, errors, "The cap is a whole number of rewards, 1 or more.")
        if errors:
            problems["cap_per_referrer"] = errors
    else:
        cap = None
    errors = []
    hold = raw.get("hold_days")
    hold = 0 if hold in (None, "") else _whole(hold, 0, MAX_HOLD_DAYS, errors,
                                                f"Hold days are a whole number from 0 to {MAX_HOLD_DAYS}.")
    if errors:
        problems["hold_days"] = errors
    tiers = _clean_tiers(raw.get("tiers") or [], kind, problems)
    rule = {"side": side, "trigger": trigger, "kind": kind, "amount": amount, "currency": currency,
            "cap_per_referrer": cap, "tiers": tiers, "hold_days": hold,
            "requires_approval": bool(raw.get("requires_approval", True))}
    return rule, problems


def _clean_tiers(tiers, kind: str, problems: dict) -> list[dict]:
    cleaned, errors, last = [], [], 1
    if not isinstance(tiers, list):
        problems["tiers"] = ["Tiers are a list of {from, amount}."]
        return []
    for tier in tiers:
        if not isinstance(tier, dict):
            errors.append("Each tier is {from, amount}.")
            continue
        start = _whole(tier.get("from"), 2, None, errors,
                       "A tier starts at the 2nd reward of the year or later.")
        amount = _amount(tier.get("amount"), kind, errors)
        if start is not None and start <= last:
            errors.append("Tiers must start at increasing counts.")
        if start is not None and amount is not None:
            last = start
            cleaned.append({"from": start, "amount": str(amount)})
    if errors:
        problems["tiers"] = errors
    return cleaned


def clean_rules(rules, field: str = "rewards") -> list[dict]:
    """Validated copies of `rules`; ValidationFailed names each bad value as `rewards.N.name`."""
    if not isinstance(rules, list):
        raise ValidationFailed("Reward rules are a list.", {field: ["Send a list of reward rules."]})
    cleaned, fields = [], {}
    for index, raw in enumerate(rules):
        rule, problems = _clean_rule(raw if isinstance(raw, dict) else {})
        fields.update({f"{field}.{index}.{name}": messages for name, messages in problems.items()})
        cleaned.append(rule)
    if fields:
        raise ValidationFailed("Some reward rules are not valid.", fields)
    return cleaned


def _get(rule, name):
    return rule.get(name) if isinstance(rule, dict) else getattr(rule, name)


def _value_words(rule) -> str:
    amount, currency, kind = _get(rule, "amount"), _get(rule, "currency"), _get(rule, "kind")
    if kind == "percent":
        number = f"{format_number(amount)}%"
        if _get(rule, "side") == "give":
            return f"{number} off"
        return f"{number} of the {'purchase' if _get(rule, 'trigger') == 'purchase' else 'deal'}"
    return format_amount(amount, currency)


WHO = {"give": "your friend gets", "get": "you get"}


def _phrase(rule, with_details: bool = False) -> str:
    side, trigger = _get(rule, "side"), _get(rule, "trigger")
    words = _value_words(rule)
    if not (side == "give" and trigger == "submitted"):
        words += f" {TRIGGER_WORDS.get(trigger, trigger)}"
    for tier in _get(rule, "tiers") or []:
        value = _value_words({**_rule_dict(rule), "amount": tier["amount"]})
        words += f", {value} from your {_ordinal(int(tier['from']))} in a year"
    if _get(rule, "cap_per_referrer"):
        words += f" (up to {_get(rule, 'cap_per_referrer')} a year)"
    if with_details:
        extra = []
        if _get(rule, "hold_days"):
            extra.append(f"held {_get(rule, 'hold_days')} days before it is issued")
        if _get(rule, "requires_approval"):
            extra.append("marketing approves it")
        if extra:
            words += "; " + " and ".join(extra)
    return words


def describe_rule(rule, with_details: bool = False) -> str:
    """One rule in words, e.g. "you get $100 when they become a customer (up to 5 a year)"."""
    return f"{WHO.get(_get(rule, 'side'), '')} {_phrase(rule, with_details)}"


def describe(rules) -> str:
    """All active rules in one sentence: "Your friend gets 20% off; you get $100 when ..."."""
    live = [r for r in rules or () if _get(r, "active") is not False]
    parts = [f"{WHO[side]} " + " and ".join(_phrase(r) for r in group)
             for side in ("give", "get")
             if (group := [r for r in live if _get(r, "side") == side])]
    if not parts:
        return ""
    sentence = "; ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


def _rule_dict(rule) -> dict:
    return {name: _get(rule, name) for name in ("side", "trigger", "kind", "amount", "currency")}


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _same(row: RewardRule, data: dict) -> bool:
    return all(getattr(row, name) == data[name] for name in
               ("side", "trigger", "kind", "currency", "cap_per_referrer", "hold_days",
                "requires_approval")) \
        and Decimal(row.amount) == data["amount"] \
        and [(int(t["from"]), Decimal(t["amount"])) for t in row.tiers or []] \
        == [(t["from"], Decimal(t["amount"])) for t in data["tiers"]]


def replace_rules(program: Program, rules: list[dict]) -> None:
    """Make `rules` (cleaned) the program's active rules.

    Unchanged rules are kept as they are; a rule that already earned rewards is retired
    (active = False), never deleted, because the ledger points at it.
    """
    current = [r for r in program.rules if r.active]
    kept: list[RewardRule] = []
    for data in rules:
        match = next((r for r in current if r not in kept and _same(r, data)), None)
        if match is not None:
            kept.append(match)
        else:
            program.rules.append(RewardRule(**data, active=True))
    for row in current:
        if row in kept:
            continue
        used = row.id is not None and db.session.scalar(
            select(exists().where(Reward.rule_id == row.id)))
        if used:
            row.active = False
        else:
            program.rules.remove(row)
