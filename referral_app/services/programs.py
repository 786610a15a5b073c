"""Programs: create and edit with validation, slug rules, lifecycle, and the live preview."""
import re
import string
from types import SimpleNamespace

from sqlalchemy import select, union
from sqlalchemy.exc import IntegrityError

from referral_app.errors import Duplicate, InvalidTransition, ValidationFailed
from referral_app.extensions import db
from referral_app.models import Agreement, MqlDefinition, Program
from referral_app.models.program import PROGRAM_STATUSES
from referral_app.models.user import REFERRER_KINDS
from referral_app.services import messaging, reward_rules

# draft → active ↔ paused → archived; anything else is refused with 409 invalid_transition.
TRANSITIONS = {"draft": {"active"}, "active": {"paused"}, "paused": {"active", "archived"},
               "archived": set()}
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
SLUG_LENGTH = (3, 100)
# Slugs that would shadow the console's own pages under /programs/.
RESERVED_SLUGS = {"new", "preview", "agreements", "glossary", "calendars", "definitions"}
TEXTS = {"name": 200, "product": 100, "share_message": 2000, "landing_headline": 300,
         "landing_body": 20000, "give_offer": 300, "coupon_format": 50}
NUMBERS = {"attribution_window_days": (1, 730), "velocity_per_hour": (1, 1000),
           "velocity_per_ip": (1, 10000)}
FLAGS = ("block_same_domain", "mql_on_arrival")
REQUIRED = ("name", "slug", "product")
COUPON = re.compile(r"[A-Za-z0-9_{}-]+")
SAMPLE_REFERRER = SimpleNamespace(name="Alex Sample", email="alex@example.com")
SAMPLE_CODE = "SAMPLE42"


def _check_text(name: str, value, errors: dict) -> str | None:
    if not isinstance(value, str):
        errors[name] = ["Enter text."]
        return None
    value = value.strip() if name not in ("share_message", "landing_body") else value
    if name in REQUIRED and not value:
        errors[name] = ["This field is required."]
    elif len(value) > TEXTS[name]:
        errors[name] = [f"Use at most {TEXTS[name]} characters."]
    return value


def _check_coupon(value: str, errors: dict) -> None:
    try:
        names = [n for _, n, _, _ in string.Formatter().parse(value) if n is not None]
    except ValueError:
        names = None
    if names != ["code"] or not COUPON.fullmatch(value):
        errors["coupon_format"] = ["Use letters, digits, - and _ around exactly one {code}, "
                                   "e.g. REF-{code}."]


def _check_slug(slug: str, program: Program | None, errors: dict) -> None:
    low, high = SLUG_LENGTH
    if not (low <= len(slug) <= high and SLUG.fullmatch(slug)):
        errors["slug"] = [f"Use {low}–{high} lower-case letters, digits and hyphens, "
                          "starting and ending with a letter or digit."]
    elif slug in RESERVED_SLUGS:
        errors["slug"] = [f"'{slug}' is reserved; choose another slug."]
    elif program is not None and program.slug != slug and program.status != "draft":
        errors["slug"] = ["The slug cannot change once the program has been launched: "
                          "links and integrations use it."]


def collect(data: dict, program: Program | None = None,
            required: bool = True) -> tuple[dict, dict]:
    """(valid values, field errors) for the fields present in `data`; creation needs REQUIRED."""
    values, errors = {}, {}
    if program is None and required:
        for name in REQUIRED:
            if data.get(name) in (None, ""):
                errors[name] = ["This field is required."]
    for name in TEXTS:
        if name in data and name not in errors:
            value = _check_text(name, data[name] if data[name] is not None else "", errors)
            if name not in errors:
                values[name] = value
    if "slug" in data and "slug" not in errors:
        slug = data["slug"] if isinstance(data["slug"], str) else ""
        _check_slug(slug.strip(), program, errors)
        if "slug" not in errors:
            values["slug"] = slug.strip()
    if "share_message" in values:
        try:
            messaging.validate_template(values["share_message"])
        except ValidationFailed as exc:
            errors.update(exc.fields)
            values.pop("share_message")
    if "coupon_format" in values:
        _check_coupon(values["coupon_format"], errors)
        if "coupon_format" in errors:
            values.pop("coupon_format")
    if "referrer_kinds" in data:
        kinds = data["referrer_kinds"]
        if not isinstance(kinds, list | tuple) or not kinds or set(kinds) - set(REFERRER_KINDS):
            errors["referrer_kinds"] = ["Choose customer, partner or both."]
        else:
            values["referrer_kinds"] = [k for k in REFERRER_KINDS if k in kinds]
    for name, (low, high) in NUMBERS.items():
        if name in data:
            value = data[name]
            if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
                values[name] = value
            else:
                errors[name] = [f"Enter a whole number from {low} to {high}."]
    for name in FLAGS:
        if name in data:
            values[name] = bool(data[name])
    if data.get("rewards") is not None:
        try:
            values["rewards"] = reward_rules.clean_rules(data["rewards"])
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if "status" in data and data["status"] not in PROGRAM_STATUSES:
        errors["status"] = [f"Choose one of: {', '.join(PROGRAM_STATUSES)}."]
    return values, errors


def _apply(program: Program, values: dict) -> None:
    for name, value in values.items():
        if name != "rewards":
            setattr(program, name, value)
    if "rewards" in values:
        reward_rules.replace_rules(program, values["rewards"])


def _save(program: Program) -> None:
    with db.session.no_autoflush:  # check before the INSERT, which would fail on the constraint
        query = select(Program.id).where(Program.slug == program.slug)
        if program.id is not None:
            query = query.where(Program.id != program.id)
        taken = db.session.scalar(query)
    if taken is not None:
        raise Duplicate(f"A program with the slug '{program.slug}' already exists.")
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as exc:  # a concurrent request took the slug between check and write
        raise Duplicate(f"A program with the slug '{program.slug}' already exists.") from exc


def create_program(data: dict, actor_id: int | None = None) -> Program:
    """A new program in `draft` (or moved on at once when `data["status"]` asks for it)."""
    values, errors = collect(data)
    if errors:
        raise ValidationFailed("Some fields are not valid.", errors)
    program = Program(created_by_id=actor_id, status="draft", rules=[])
    db.session.add(program)
    _apply(program, values)
    _save(program)
    if data.get("status", "draft") != "draft":
        change_status(program, data["status"])
    return program


def update_program(program: Program, data: dict) -> Program:
    """Edit the fields present in `data`; `status` in it changes the lifecycle after the edit."""
    if program.status == "archived":
        raise InvalidTransition("An archived program cannot be changed.",
                                fields={"status": [program.status]})
    values, errors = collect(data, program)
    if errors:
        raise ValidationFailed("Some fields are not valid.", errors)
    _apply(program, values)
    _save(program)
    if "status" in data:
        change_status(program, data["status"])
    return program


def change_status(program: Program, to: str) -> Program:
    """Move along draft → active ↔ paused → archived; the same status again changes nothing."""
    if to == program.status:
        return program
    if to not in TRANSITIONS.get(program.status, set()):
        raise InvalidTransition(f"A {program.status} program cannot become {to}.",
                                fields={"status": [program.status]})
    if to == "active":
        missing = {name: ["Needed before the program goes live."]
                   for name in ("share_message", "landing_headline")
                   if not (getattr(program, name) or "").strip()}
        if missing:
            raise ValidationFailed("The program is not ready to go live.", missing)
    program.status = to
    db.session.flush()
    return program


def by_slug(slug: str) -> Program | None:
    return db.session.scalar(select(Program).where(Program.slug == slug))


def products() -> list[str]:
    """Every product named by a program, an agreement or an MQL definition."""
    query = union(select(Program.product), select(Agreement.product), select(MqlDefinition.product))
    return sorted({p for p in db.session.scalars(query) if p})


def preview(data: dict, link_base: str) -> dict:
    """What the referrer and referee would see for unsaved `data`, with the errors found.

    Nothing is stored: the program is a transient object outside the session.
    """
    values, errors = collect({k: v for k, v in data.items() if k != "slug"}, required=False)
    program = Program(name="", product="", share_message="", landing_headline="",
                      landing_body="", give_offer="", status="draft", rules=[])
    for name in TEXTS:  # shown even when invalid: pages escape and sanitise it anyway
        value = data.get(name)
        setattr(program, name, value if isinstance(value, str) else "")
    rules = values.pop("rewards", [])
    link = link_base.rstrip("/") + "/r/" + SAMPLE_CODE
    share = None
    if "share_message" not in errors:
        share = messaging.share_texts(program, SAMPLE_REFERRER, link, SAMPLE_CODE)
    return {"program": program, "errors": errors, "share": share, "link": link,
            "code": SAMPLE_CODE, "referrer": SAMPLE_REFERRER,
            "rewards": reward_rules.describe(rules),
            "rules": [reward_rules.describe_rule(r, with_details=True) for r in rules]}
