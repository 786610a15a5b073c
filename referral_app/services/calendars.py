"""Business calendars: validate by building a BusinessCalendar, then store the definition."""
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from referral_app.calendar import holiday_countries
from referral_app.errors import Duplicate, ValidationFailed
from referral_app.extensions import db
from referral_app.models import Calendar

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _timezone(value, errors: dict) -> str | None:
    try:
        ZoneInfo(value)
        return value
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        errors["timezone"] = [f"{value!r} is not an IANA time zone such as Europe/Berlin."]
        return None


def _hours(value, errors: dict) -> dict | None:
    """{"0": [["09:00", "17:00"]], ...}: keys 0 (Monday) … 6, pairs of "HH:MM" strings."""
    from referral_app.calendar import BusinessCalendar

    if not isinstance(value, dict):
        errors["hours"] = ['Send {"0": [["09:00", "17:00"]], ...} with 0 for Monday.']
        return None
    hours = {}
    for key, intervals in value.items():
        if not isinstance(intervals, list):
            errors["hours"] = [f"Weekday {key}: send a list of [start, end] pairs."]
            return None
        hours[str(key)] = [list(pair) if isinstance(pair, list | tuple) else pair
                           for pair in intervals]
    try:
        BusinessCalendar("UTC", hours)
    except (ValueError, TypeError) as exc:
        errors["hours"] = [str(exc)]
        return None
    return {k: v for k, v in sorted(hours.items()) if v}


def _holidays(value, errors: dict) -> list[str]:
    days, bad = [], []
    for item in value or []:
        try:
            day = item if isinstance(item, date) else date.fromisoformat(str(item).strip())
            days.append(day.isoformat())
        except ValueError:
            bad.append(str(item))
    if bad:
        errors["holidays"] = [f"Not a date (YYYY-MM-DD): {', '.join(bad[:5])}."]
    return sorted(set(days))


def _country(value, errors: dict) -> str | None:
    country = (value or "").strip().upper() or None
    if country is not None and country not in holiday_countries():
        errors["country"] = [f"No public-holiday data for {country!r}; use a code such as US or DE."]
    return country


def clean(data: dict) -> dict:
    """Validated calendar fields; the whole set is proven by constructing a BusinessCalendar."""
    from referral_app.calendar import BusinessCalendar

    errors: dict = {}
    name = (data.get("name") or "").strip()
    if not name or len(name) > 100:
        errors["name"] = ["Give the calendar a name of at most 100 characters."]
    values = {"name": name, "timezone": _timezone(data.get("timezone"), errors),
              "hours": _hours(data.get("hours"), errors),
              "holidays": _holidays(data.get("holidays"), errors),
              "country": _country(data.get("country"), errors)}
    if not errors:
        try:
            BusinessCalendar(values["timezone"], values["hours"], values["holidays"],
                             values["country"])
        except (ValueError, TypeError) as exc:
            errors["hours"] = [str(exc)]
    if errors:
        raise ValidationFailed("Some calendar fields are not valid.", errors)
    return values


def create_calendar(data: dict) -> Calendar:
    values = clean(data)
    with db.session.no_autoflush:
        if db.session.scalar(select(Calendar.id).where(Calendar.name == values["name"])):
            raise Duplicate(f"A calendar named '{values['name']}' already exists.")
    calendar = Calendar(**values)
    try:
        with db.session.begin_nested():
            db.session.add(calendar)
            db.session.flush()
    except IntegrityError as exc:
        raise Duplicate(f"A calendar named '{values['name']}' already exists.") from exc
    return calendar


def all_calendars() -> list[Calendar]:
    return list(db.session.scalars(select(Calendar).order_by(Calendar.name)))


def describe_hours(hours: dict) -> list[tuple[str, str]]:
    """[("Monday", "09:00–12:00, 13:00–17:00"), ...] for every weekday, "closed" when none."""
    return [(day, ", ".join(f"{a}–{b}" for a, b in hours.get(str(i)) or []) or "closed")
            for i, day in enumerate(WEEKDAYS)]
