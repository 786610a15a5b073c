"""Calendars and instants the business-calendar tests share (no app, no database)."""
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from referral_app.calendar import BusinessCalendar

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
M = timedelta(minutes=1)
WEEKDAYS = range(5)
ALL_DAYS = range(7)

NINE_FIVE = BusinessCalendar("America/New_York", {d: [("09:00", "17:00")] for d in WEEKDAYS})
US = BusinessCalendar(
    "America/New_York", {d: [("09:00", "17:00")] for d in WEEKDAYS}, holidays=["2026-01-07"],
    country="US",
)
DAILY_NY = BusinessCalendar("America/New_York", {d: [("09:00", "17:00")] for d in ALL_DAYS})
ALWAYS_NY = BusinessCalendar("America/New_York", {d: [("00:00", "24:00")] for d in ALL_DAYS})
ALWAYS_BER = BusinessCalendar("Europe/Berlin", {d: [("00:00", "24:00")] for d in ALL_DAYS})
EARLY_NY = BusinessCalendar("America/New_York", {d: [("00:00", "03:00")] for d in ALL_DAYS})
EARLY_BER = BusinessCalendar("Europe/Berlin", {d: [("01:00", "04:00")] for d in ALL_DAYS})
SPLIT = BusinessCalendar("UTC", {d: [("09:00", "12:00"), ("13:00", "17:00")] for d in WEEKDAYS})
NIGHT_BER = BusinessCalendar(
    "Europe/Berlin", {d: [("22:00", "06:00")] for d in WEEKDAYS}, holidays=[date(2026, 3, 3)]
)
NIGHT_ALL_BER = BusinessCalendar("Europe/Berlin", {d: [("22:00", "06:00")] for d in ALL_DAYS})
NIGHT_ALL_NY = BusinessCalendar("America/New_York", {d: [("22:00", "06:00")] for d in ALL_DAYS})


def ny(*a, fold=0):
    return datetime(*a, tzinfo=NY, fold=fold)


def ber(*a):
    return datetime(*a, tzinfo=BERLIN)


def utc(dt):
    # Same-zone comparisons ignore fold and inter-zone ones treat fold instants as unequal,
    # so properties compare instants in UTC.
    return dt.astimezone(UTC)
