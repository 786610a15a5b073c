"""Business-hours calendar: hand-computed cases and edge cases (no app, no database)."""

import json
from datetime import UTC, date, datetime, time, timedelta

import pytest

from referral_app.calendar import BusinessCalendar, calendar_for
from tests.unit.calendars import (
    ALWAYS_BER,
    ALWAYS_NY,
    BERLIN,
    DAILY_NY,
    EARLY_BER,
    EARLY_NY,
    NIGHT_ALL_BER,
    NIGHT_ALL_NY,
    NIGHT_BER,
    NINE_FIVE,
    NY,
    SPLIT,
    US,
    WEEKDAYS,
    H,
    M,
    ber,
    ny,
    utc,
)

# (calendar, start, delta, expected); 2026-01-05 is a Monday, 2026-01-10 a Saturday.
ADD_CASES = [
    pytest.param(NINE_FIVE, ny(2026, 1, 5, 9), 8 * H, ny(2026, 1, 5, 17), id="land-on-close"),
    pytest.param(NINE_FIVE, ny(2026, 1, 5, 13), 4 * H, ny(2026, 1, 5, 17), id="land-on-close-2"),
    pytest.param(NINE_FIVE, ny(2026, 1, 5, 16), 2 * H, ny(2026, 1, 6, 10), id="next-day"),
    pytest.param(NINE_FIVE, ny(2026, 1, 5, 7), H, ny(2026, 1, 5, 10), id="before-opening"),
    pytest.param(NINE_FIVE, ny(2026, 1, 5, 17), H, ny(2026, 1, 6, 10), id="start-at-close"),
    pytest.param(NINE_FIVE, ny(2026, 1, 10, 12), H, ny(2026, 1, 12, 10), id="start-weekend"),
    pytest.param(NINE_FIVE, ny(2026, 1, 9, 16), 3 * H, ny(2026, 1, 12, 11), id="over-weekend"),
    pytest.param(NINE_FIVE, ny(2026, 1, 10, 12), 0 * H, ny(2026, 1, 10, 12), id="zero-delta"),
    pytest.param(NINE_FIVE, ny(2026, 1, 5, 9), 40 * H, ny(2026, 1, 9, 17), id="whole-week"),
    pytest.param(NINE_FIVE, ny(2026, 1, 5, 9), 41 * H, ny(2026, 1, 12, 10), id="week-plus-hour"),
    pytest.param(US, ny(2026, 11, 26, 10), H, ny(2026, 11, 27, 10), id="start-thanksgiving"),
    pytest.param(US, ny(2026, 11, 25, 16), 2 * H, ny(2026, 11, 27, 10), id="over-thanksgiving"),
    pytest.param(US, ny(2026, 12, 24, 16), 2 * H, ny(2026, 12, 28, 10), id="over-christmas"),
    pytest.param(US, ny(2026, 7, 2, 17), H, ny(2026, 7, 6, 10), id="july-3-observed"),
    pytest.param(US, ny(2026, 1, 6, 16), 2 * H, ny(2026, 1, 8, 10), id="own-holiday-date"),
    pytest.param(SPLIT, datetime(2026, 1, 5, 11, tzinfo=UTC), 2 * H,
                 datetime(2026, 1, 5, 14, tzinfo=UTC), id="split-lunch"),
    pytest.param(SPLIT, datetime(2026, 1, 5, 9, tzinfo=UTC), 3 * H,
                 datetime(2026, 1, 5, 12, tzinfo=UTC), id="split-land-on-lunch"),
    pytest.param(SPLIT, datetime(2026, 1, 5, 12, 30, tzinfo=UTC), 30 * M,
                 datetime(2026, 1, 5, 13, 30, tzinfo=UTC), id="split-start-in-lunch"),
    pytest.param(SPLIT, datetime(2026, 1, 9, 16, tzinfo=UTC), 2 * H,
                 datetime(2026, 1, 12, 10, tzinfo=UTC), id="split-weekend"),
    # Overnight 22:00-06:00 Mon-Fri in Berlin; 2026-03-03 (Tue) is a holiday.
    pytest.param(NIGHT_BER, ber(2026, 3, 2, 23), 8 * H, ber(2026, 3, 4, 23), id="night-holiday"),
    pytest.param(NIGHT_BER, ber(2026, 3, 2, 23), 7 * H, ber(2026, 3, 3, 6), id="night-close"),
    pytest.param(NIGHT_BER, ber(2026, 3, 6, 23), 8 * H, ber(2026, 3, 9, 23), id="night-fri-sat"),
    pytest.param(NIGHT_BER, ber(2026, 3, 4, 12), H, ber(2026, 3, 4, 23), id="night-midday"),
    pytest.param(NIGHT_BER, ber(2026, 3, 5, 3), 5 * H, ber(2026, 3, 6), id="night-to-midnight"),
    # DST, New York: spring 2026-03-08 (02:00 -> 03:00), fall 2026-11-01 (02:00 -> 01:00).
    pytest.param(DAILY_NY, ny(2026, 3, 7, 16), 2 * H, ny(2026, 3, 8, 10), id="ny-spring-9to5"),
    pytest.param(DAILY_NY, ny(2026, 10, 31, 16), 9 * H, ny(2026, 11, 1, 17), id="ny-fall-9to5"),
    pytest.param(ALWAYS_NY, ny(2026, 3, 8), 23 * H, ny(2026, 3, 9), id="ny-24h-spring"),
    pytest.param(ALWAYS_NY, ny(2026, 11, 1), 25 * H, ny(2026, 11, 2), id="ny-24h-fall"),
    pytest.param(ALWAYS_NY, ny(2026, 3, 8, 1, 30), H, ny(2026, 3, 8, 3, 30), id="ny-24h-gap"),
    pytest.param(ALWAYS_NY, ny(2026, 11, 1, 1, 30), H, ny(2026, 11, 1, 1, 30, fold=1),
                 id="ny-24h-fold"),
    pytest.param(EARLY_NY, ny(2026, 3, 8), 3 * H, ny(2026, 3, 9, 1), id="ny-short-interval"),
    pytest.param(EARLY_NY, ny(2026, 11, 1), 4 * H, ny(2026, 11, 1, 3), id="ny-long-interval"),
    pytest.param(NIGHT_ALL_NY, ny(2026, 10, 31, 22), 9 * H, ny(2026, 11, 1, 6), id="ny-night-fall"),
    # DST, Berlin: spring 2026-03-29 (02:00 -> 03:00), fall 2026-10-25 (03:00 -> 02:00).
    pytest.param(ALWAYS_BER, ber(2026, 3, 29), 23 * H, ber(2026, 3, 30), id="ber-24h-spring"),
    pytest.param(ALWAYS_BER, ber(2026, 10, 25), 25 * H, ber(2026, 10, 26), id="ber-24h-fall"),
    pytest.param(EARLY_BER, ber(2026, 3, 29), 2 * H, ber(2026, 3, 29, 4), id="ber-short-interval"),
    pytest.param(EARLY_BER, ber(2026, 3, 29), 3 * H, ber(2026, 3, 30, 2), id="ber-short-next"),
    pytest.param(EARLY_BER, ber(2026, 10, 25), 4 * H, ber(2026, 10, 25, 4), id="ber-long-interval"),
    pytest.param(NIGHT_ALL_BER, ber(2026, 3, 28, 22), 7 * H, ber(2026, 3, 29, 6),
                 id="ber-night-spring"),
    pytest.param(NIGHT_ALL_BER, ber(2026, 3, 28, 22), 8 * H, ber(2026, 3, 29, 23),
                 id="ber-night-spring-next"),
]


@pytest.mark.parametrize(("cal", "start", "delta", "expected"), ADD_CASES)
def test_add_table(cal, start, delta, expected):
    result = cal.add(start, delta)
    assert result == expected
    assert result.tzinfo == cal.zone
    assert result.utcoffset() == expected.utcoffset()
    assert cal.elapsed(start, result) == delta


ELAPSED_CASES = [
    pytest.param(NINE_FIVE, ny(2026, 1, 9, 16), ny(2026, 1, 12, 10), 2 * H, id="weekend"),
    pytest.param(NINE_FIVE, ny(2026, 1, 10), ny(2026, 1, 11, 23), 0 * H, id="inside-weekend"),
    pytest.param(NINE_FIVE, ny(2026, 1, 12, 10), ny(2026, 1, 9, 16), 0 * H, id="reversed"),
    pytest.param(NINE_FIVE, ny(2026, 1, 5), ny(2026, 1, 5), 0 * H, id="empty"),
    pytest.param(NINE_FIVE, ny(2026, 1, 5), ny(2026, 2, 2), 160 * H, id="four-weeks"),
    pytest.param(NINE_FIVE, ny(2026, 1, 1), ny(2027, 1, 1), 261 * 8 * H, id="year"),
    pytest.param(US, ny(2026, 1, 1), ny(2027, 1, 1), (261 - 11 - 1) * 8 * H, id="us-year"),
    pytest.param(US, ny(2026, 11, 23), ny(2026, 11, 30), 32 * H, id="thanksgiving-week"),
    pytest.param(SPLIT, datetime(2026, 1, 5, 8, tzinfo=UTC), datetime(2026, 1, 5, 18, tzinfo=UTC),
                 7 * H, id="split-day"),
    pytest.param(DAILY_NY, ny(2026, 3, 7, 17), ny(2026, 3, 8, 17), 8 * H, id="ny-spring-9to5"),
    pytest.param(ALWAYS_NY, ny(2026, 3, 8), ny(2026, 3, 9), 23 * H, id="ny-24h-spring"),
    pytest.param(ALWAYS_NY, ny(2026, 11, 1), ny(2026, 11, 2), 25 * H, id="ny-24h-fall"),
    pytest.param(EARLY_NY, ny(2026, 3, 8), ny(2026, 3, 8, 12), 2 * H, id="ny-interval-spring"),
    pytest.param(EARLY_NY, ny(2026, 11, 1), ny(2026, 11, 1, 12), 4 * H, id="ny-interval-fall"),
    pytest.param(ALWAYS_BER, ber(2026, 3, 29), ber(2026, 3, 30), 23 * H, id="ber-24h-spring"),
    pytest.param(ALWAYS_BER, ber(2026, 10, 25), ber(2026, 10, 26), 25 * H, id="ber-24h-fall"),
    pytest.param(EARLY_BER, ber(2026, 3, 29), ber(2026, 3, 29, 12), 2 * H, id="ber-spring"),
    pytest.param(EARLY_BER, ber(2026, 10, 25), ber(2026, 10, 25, 12), 4 * H, id="ber-fall"),
    pytest.param(NIGHT_ALL_NY, ny(2026, 10, 31, 12), ny(2026, 11, 1, 12), 9 * H, id="ny-night"),
    pytest.param(NIGHT_ALL_BER, ber(2026, 3, 28, 12), ber(2026, 3, 29, 12), 7 * H, id="ber-night"),
    # Monday night runs into the Tuesday holiday; the Tuesday night never starts.
    pytest.param(NIGHT_BER, ber(2026, 3, 2, 12), ber(2026, 3, 4, 12), 8 * H, id="night-holiday"),
    pytest.param(NIGHT_BER, ber(2026, 3, 7), ber(2026, 3, 9), 6 * H, id="night-weekend"),
]


@pytest.mark.parametrize(("cal", "start", "end", "expected"), ELAPSED_CASES)
def test_elapsed_table(cal, start, end, expected):
    assert cal.elapsed(start, end) == expected


@pytest.mark.parametrize(
    ("cal", "at", "expected"),
    [
        (NINE_FIVE, ny(2026, 1, 5, 9), True),
        (NINE_FIVE, ny(2026, 1, 5, 17), False),  # intervals are half-open [open, close)
        (NINE_FIVE, ny(2026, 1, 5, 16, 59), True),
        (NINE_FIVE, ny(2026, 1, 10, 12), False),
        (US, ny(2026, 11, 26, 12), False),
        (US, ny(2026, 12, 25, 12), False),
        (US, ny(2026, 12, 24, 12), True),
        (SPLIT, datetime(2026, 1, 5, 12, 30, tzinfo=UTC), False),
        (NIGHT_BER, ber(2026, 3, 3, 5), True),  # started Monday, runs into the holiday
        (NIGHT_BER, ber(2026, 3, 3, 23), False),  # would start on the holiday
        (NIGHT_BER, ber(2026, 3, 7, 5), True),  # Friday's shift runs into Saturday
        (NIGHT_BER, ber(2026, 3, 7, 23), False),
        (ALWAYS_NY, ny(2026, 3, 8, 3), True),
    ],
)
def test_is_open(cal, at, expected):
    assert cal.is_open(at) is expected


def test_naive_and_aware_inputs_agree():
    naive = datetime(2026, 1, 5, 9)
    aware_utc = datetime(2026, 1, 5, 14, tzinfo=UTC)
    aware_ber = datetime(2026, 1, 5, 15, tzinfo=BERLIN)
    results = {NINE_FIVE.add(x, H) for x in (naive, aware_utc, aware_ber)}
    assert results == {ny(2026, 1, 5, 10)}
    result = NINE_FIVE.add(naive, 0 * H)
    assert result == ny(2026, 1, 5, 9) and result.tzinfo == NY
    assert NINE_FIVE.elapsed(naive, aware_ber + 2 * H) == 2 * H
    assert NINE_FIVE.is_open(naive) and NINE_FIVE.is_open(aware_utc)


def test_wall_time_resolution_uses_fold():
    # Ambiguous 01:30 on 2026-11-01: fold=0 is the first (EDT) occurrence, fold=1 the second.
    first, second = datetime(2026, 11, 1, 1, 30), datetime(2026, 11, 1, 1, 30, fold=1)
    # Compare in UTC: Python never equates an instant inside a fold with another zone's instant.
    assert utc(ALWAYS_NY.add(first, 0 * H)) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert utc(ALWAYS_NY.add(second, 0 * H)) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    assert utc(ALWAYS_NY.add(first, H)) == utc(ny(2026, 11, 1, 1, 30, fold=1))
    # Non-existent 02:30 on 2026-03-08 reads with the pre-transition offset: 03:30 EDT.
    assert ALWAYS_NY.add(datetime(2026, 3, 8, 2, 30), 0 * H) == ny(2026, 3, 8, 3, 30)


def test_boundary_in_dst_gap():
    # 02:30 does not exist on 2026-03-08; fold=0 reads it as 03:30 EDT, so the interval is 30 min.
    cal = BusinessCalendar("America/New_York", {6: [("02:30", "04:00")]})
    assert cal.elapsed(ny(2026, 3, 8), ny(2026, 3, 9)) == 30 * M
    assert cal.elapsed(ny(2026, 3, 15), ny(2026, 3, 16)) == 90 * M


def test_time_objects_string_keys_and_24h():
    a = BusinessCalendar("UTC", {"0": [["09:00", "24:00"]], "1": [[time(9), time(17)]]})
    b = BusinessCalendar("UTC", {0: [(time(9), "24:00")], 1: [("09:00", "17:00")]})
    assert a == b and hash(a) == hash(b) and a.key() == b.key()
    assert a.add(datetime(2026, 1, 5, 23), H) == datetime(2026, 1, 6, tzinfo=UTC)  # the close
    assert a.add(datetime(2026, 1, 5, 23), 2 * H) == datetime(2026, 1, 6, 10, tzinfo=UTC)
    assert a.elapsed(datetime(2026, 1, 5), datetime(2026, 1, 7)) == 23 * H


def test_overnight_ending_at_midnight_equals_24h():
    a = BusinessCalendar("UTC", {0: [("22:00", "00:00")]})
    b = BusinessCalendar("UTC", {0: [("22:00", "24:00")]})
    assert a == b
    assert a.to_dict()["hours"] == {"0": [["22:00", "24:00"]]}


def test_dict_round_trip_is_json_safe():
    odd = BusinessCalendar("UTC", {6: [(time(9, 0, 30), time(17, 0, 0, 250)), ("23:00", "00:30")]})
    assert odd.to_dict()["hours"] == {"6": [["09:00:30", "17:00:00.000250"], ["23:00", "00:30"]]}
    for cal in (US, NIGHT_BER, SPLIT, ALWAYS_BER, odd):
        data = json.loads(json.dumps(cal.to_dict()))
        assert set(data) == {"timezone", "hours", "holidays", "country"}
        assert BusinessCalendar.from_dict(data) == cal
    assert NIGHT_BER.to_dict() == {
        "timezone": "Europe/Berlin",
        "hours": {str(d): [["22:00", "06:00"]] for d in WEEKDAYS},
        "holidays": ["2026-03-03"],
        "country": None,
    }
    assert US.to_dict()["country"] == "US"


def test_calendar_for_reuses_instances():
    hours = {d: [("09:00", "17:00")] for d in WEEKDAYS}
    a = calendar_for("America/New_York", hours, ["2026-01-07"], "US")
    b = calendar_for("America/New_York", {str(k): [list(v[0])] for k, v in hours.items()},
                     [date(2026, 1, 7)], "us")
    assert a is b and a == US
    assert calendar_for("UTC", hours) is not a


@pytest.mark.parametrize(
    "hours", [{}, {0: []}, {0: [("09:00", "09:00")], 3: [(time(0), "00:00")]}],
)
def test_never_open_calendar_is_rejected(hours):
    with pytest.raises(ValueError, match="calendar has no opening hours"):
        BusinessCalendar("UTC", hours)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("Mars/Olympus", {0: [("09:00", "17:00")]}), "time zone"),
        (("UTC", {7: [("09:00", "17:00")]}), "weekday"),
        (("UTC", {"mon": [("09:00", "17:00")]}), "weekday"),
        (("UTC", {0: [("24:00", "17:00")]}), "time of day"),
        (("UTC", {0: [("09:60", "17:00")]}), "time of day"),
        (("UTC", {0: [("9", "17:00")]}), "time of day"),
        (("UTC", {0: [("09:00",)]}), "interval"),
        (("UTC", {0: [("09:00", "17:00")]}, ["2026-13-01"]), "holiday"),
        (("UTC", {0: [("09:00", "17:00")]}, (), "XX"), "country"),
    ],
)
def test_invalid_construction(args, match):
    with pytest.raises(ValueError, match=match):
        BusinessCalendar(*args)


def test_negative_delta_and_bad_types():
    with pytest.raises(ValueError, match="negative"):
        NINE_FIVE.add(ny(2026, 1, 5, 9), -M)
    with pytest.raises(TypeError):
        NINE_FIVE.add(date(2026, 1, 5), H)
    with pytest.raises(TypeError):
        NINE_FIVE.add(ny(2026, 1, 5, 9), 3600)


def test_holidays_blocking_everything_raise_instead_of_looping():
    mondays = [date(2026, 1, 5) + timedelta(weeks=w) for w in range(11 * 53)]
    cal = BusinessCalendar("UTC", {0: [("09:00", "17:00")]}, holidays=mondays)
    with pytest.raises(ValueError, match="holidays block"):
        cal.add(datetime(2026, 1, 1), H)
    # A far-away opening that is still inside the limit is found.
    cal = BusinessCalendar("UTC", {0: [("09:00", "17:00")]}, holidays=mondays[: 5 * 52])
    assert cal.add(datetime(2026, 1, 1), H) == datetime(2030, 12, 30, 10, tzinfo=UTC)


def test_long_spans_use_block_totals_consistently():
    start = ny(2026, 1, 1)
    result = US.add(start, 4000 * H)
    assert US.elapsed(start, result) == 4000 * H
    assert not US.is_open(result) or US.elapsed(result - M, result) == M
    assert US.elapsed(start, ny(2036, 1, 1)) == sum(
        (US.elapsed(ny(y, 1, 1), ny(y + 1, 1, 1)) for y in range(2026, 2036)), timedelta(0)
    )


@pytest.mark.parametrize("cal", [US, NIGHT_BER, ALWAYS_BER, SPLIT])
def test_long_spans_agree_with_day_by_day_sums(cal):
    # 70 consecutive end dates cover every alignment of the cached multi-day blocks.
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    running = cal.elapsed(start, start + timedelta(days=199))
    for k in range(200, 270):
        end = start + timedelta(days=k)
        running += cal.elapsed(end - timedelta(days=1), end)
        assert cal.elapsed(start, end) == running
        reached = cal.add(start, running)
        assert utc(reached) <= end and cal.elapsed(start, reached) == running


def test_the_day_memo_stays_bounded_and_builds_each_day_once_while_kept():
    from referral_app.calendar import _Memo

    built = []
    memo = _Memo(3, lambda n: built.append(n) or n * 10)
    assert [memo[n] for n in (1, 2, 1, 3)] == [10, 20, 10, 30] and built == [1, 2, 3]
    assert memo[4] == 40 and sorted(memo) == [2, 3, 4]  # past the limit: the oldest goes
    assert memo[1] == 10 and built == [1, 2, 3, 4, 1]  # a dropped day is built again
    assert len(memo) == 3


def test_a_calendar_past_its_day_memo_still_answers_as_before(monkeypatch):
    """Twenty years of days through a memo of 64: evictions never change an answer."""
    import referral_app.calendar as calendar_module

    monkeypatch.setattr(calendar_module, "_DAY_CACHE", 64)
    monkeypatch.setattr(calendar_module, "_BLOCK_CACHE", 4)
    small = BusinessCalendar.from_dict(US.to_dict())
    start = ny(2026, 3, 2, 10)
    for hours in (1, 9, 40, 500, 9000):
        assert small.add(start, hours * H) == US.add(start, hours * H)
    assert small.elapsed(start, ny(2046, 1, 1)) == US.elapsed(start, ny(2046, 1, 1))
