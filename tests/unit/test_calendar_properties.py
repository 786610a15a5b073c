"""Business-hours calendar properties over random instants, many near DST changes."""
import functools
from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from referral_app.calendar import BusinessCalendar
from tests.unit.calendars import (
    ALWAYS_NY,
    EARLY_BER,
    NIGHT_ALL_NY,
    NIGHT_BER,
    NINE_FIVE,
    SPLIT,
    US,
    M,
    utc,
)

# -- properties ---------------------------------------------------------------------------------
PROPERTY_CALENDARS = [NINE_FIVE, US, SPLIT, NIGHT_BER, ALWAYS_NY, EARLY_BER, NIGHT_ALL_NY,
                      BusinessCalendar("Europe/Berlin", {0: [("08:15", "12:45")],
                                                         4: [("23:30", "01:10")]})]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
calendars = st.sampled_from(PROPERTY_CALENDARS)
# UTC instants of the 2026/2027 DST changes in New York and Berlin; half the draws land near one.
TRANSITIONS = [datetime(*a, tzinfo=UTC) for a in [
    (2026, 3, 8, 7), (2026, 11, 1, 6), (2027, 3, 14, 7), (2027, 11, 7, 6),
    (2026, 3, 29, 1), (2026, 10, 25, 1), (2027, 3, 28, 1), (2027, 10, 31, 1),
]]
instants = st.one_of(
    st.integers(0, 2 * 366 * 24 * 60).map(lambda m: EPOCH + m * M),
    st.builds(lambda t, m: t + m * M, st.sampled_from(TRANSITIONS), st.integers(-4320, 4320)),
)
minute_deltas = st.integers(0, 200 * 60).map(lambda m: m * M)
second_deltas = st.integers(0, 100 * 3600).map(lambda s: timedelta(seconds=s))
long_deltas = st.integers(0, 4000 * 60).map(lambda m: m * M)  # months: exercises block skipping


@settings(deadline=None, max_examples=200)
@given(calendars, instants, st.one_of(minute_deltas, second_deltas, long_deltas),
       st.integers(0, 59))
def test_elapsed_inverts_add(cal, start, delta, second):
    start += timedelta(seconds=second)
    assert cal.elapsed(start, cal.add(start, delta)) == delta


@settings(deadline=None, max_examples=200)
@given(calendars, instants, instants, instants)
def test_elapsed_is_additive(cal, a, b, c):
    a, b, c = sorted((a, b, c))
    assert cal.elapsed(a, c) == cal.elapsed(a, b) + cal.elapsed(b, c)


@settings(deadline=None, max_examples=200)
@given(calendars, instants, instants, minute_deltas)
def test_add_is_monotonic_in_start(cal, s1, s2, delta):
    s1, s2 = min(s1, s2), max(s1, s2)
    assert utc(cal.add(s1, delta)) <= utc(cal.add(s2, delta))


@settings(deadline=None, max_examples=200)
@given(calendars, instants, minute_deltas, minute_deltas)
def test_add_is_monotonic_in_delta(cal, start, d1, d2):
    d1, d2 = min(d1, d2), max(d1, d2)
    assert utc(cal.add(start, d1)) <= utc(cal.add(start, d2))


@settings(deadline=None, max_examples=200)
@given(calendars, instants)
def test_is_open_matches_elapsed(cal, t):
    # Every boundary here is minute-aligned in UTC, so a minute is all open or all closed.
    assert (cal.elapsed(t, t + M) > timedelta(0)) == cal.is_open(t)
    assert (cal.elapsed(t, t + M) == M) == cal.is_open(t)
    if cal.is_open(t):
        assert utc(cal.add(t, M)) == t + M


@functools.cache
def _reference_data(cal):
    data = cal.to_dict()
    holidays = {date.fromisoformat(h) for h in data["holidays"]}
    if data["country"]:
        import holidays as hol

        holidays |= set(hol.country_holidays(data["country"], years=range(2025, 2029)))
    return data["hours"], holidays


def _reference_open(cal, t):
    """Independent check from the wall clock: an interval of day D or D-1 contains t."""
    hours, holidays = _reference_data(cal)
    local = t.astimezone(cal.zone).date()
    for day in (local - timedelta(days=1), local):
        if day in holidays:
            continue
        for start, end in hours.get(str(day.weekday()), []):
            s = time.fromisoformat(start)
            opens = datetime.combine(day, s, tzinfo=cal.zone)
            if end == "24:00":
                closes = datetime.combine(day + timedelta(days=1), time(0), tzinfo=cal.zone)
            else:
                e = time.fromisoformat(end)
                closes = datetime.combine(day + timedelta(days=e <= s), e, tzinfo=cal.zone)
            if opens.astimezone(UTC) <= t < closes.astimezone(UTC):
                return True
    return False


@settings(deadline=None, max_examples=200)
@given(calendars, instants, st.integers(0, 300))
def test_matches_minute_by_minute_reference(cal, start, minutes):
    assert cal.is_open(start) == _reference_open(cal, start)
    expected = sum(_reference_open(cal, start + k * M) for k in range(minutes)) * M
    assert cal.elapsed(start, start + minutes * M) == expected
