"""Business-hours calendar: open-time arithmetic over weekly hours, holidays and DST."""

from __future__ import annotations

import functools
import re
import threading
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["BusinessCalendar", "calendar_for"]

# Wall-clock resolution (documented contract, applied to inputs and to interval boundaries):
# a naive datetime is read with its own ``fold`` (default 0), exactly as zoneinfo does.  So an
# ambiguous wall time (fall back) means its FIRST occurrence unless fold=1, and a non-existent
# one (spring forward) is read with the pre-transition offset: 02:30 on 2026-03-08 in New York
# is the instant 03:30 EDT.  Opening/closing times always use fold=0.  Internally every instant
# is a naive UTC datetime, so durations are real elapsed time and comparisons are C-fast.

_ZERO = timedelta(0)
_US_PER_DAY = 86_400_000_000
_BLOCK = 32  # days per cached block total: long spans skip whole blocks instead of walking days
_DAY_CACHE = 8192  # per-date LRU (~22 years of dates per calendar)
_BLOCK_CACHE = 1024
_MAX_IDLE_DAYS = 3660  # ~10 years without any open time: holidays block everything, give up
_CLOCK = re.compile(r"([0-2][0-9]):([0-5][0-9])(?::([0-5][0-9])(?:\.([0-9]{6}))?)?", re.ASCII)


def _parse_time(value, *, is_end: bool) -> int:
    """Microseconds since midnight; "24:00" is only meaningful as an end."""
    if isinstance(value, time):
        return (value.hour * 3600 + value.minute * 60 + value.second) * 10**6 + value.microsecond
    match = _CLOCK.fullmatch(value.strip()) if isinstance(value, str) else None
    if match:
        h, m, s, us = int(match[1]), int(match[2]), int(match[3] or 0), int(match[4] or 0)
        if h < 24 or (is_end and (h, m, s, us) == (24, 0, 0, 0)):
            return (h * 3600 + m * 60 + s) * 1_000_000 + us
    raise ValueError(f"invalid time of day {value!r} (expected 'HH:MM', 'HH:MM:SS' or time)")


def _format_time(us: int) -> str:
    if us == _US_PER_DAY:
        return "24:00"
    clock = (datetime.min + timedelta(microseconds=us)).time()
    return clock.isoformat("auto" if us % 60_000_000 else "minutes")  # seconds only if needed


def _normalise_hours(hours) -> tuple:
    """7-tuple (Monday first) of sorted unique (start_us, end_us); overnight ends exceed a day."""
    week: list[set] = [set() for _ in range(7)]
    for key, intervals in dict(hours).items():
        day = int(key) if isinstance(key, int | str) and str(key).strip().isdigit() else -1
        if not 0 <= day <= 6:  # JSON object keys arrive as "0".."6"; str(True) is no digit
            raise ValueError(f"invalid weekday {key!r} (expected 0=Monday .. 6=Sunday)")
        for pair in intervals or ():
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                raise ValueError(f"invalid interval {pair!r} (expected (start, end))")
            s, e = _parse_time(pair[0], is_end=False), _parse_time(pair[1], is_end=True)
            if e == s:
                continue  # zero-length; a full day is written "00:00"-"24:00"
            week[day].add((s, e if e > s else e + _US_PER_DAY))  # end not after start: overnight
    return tuple(tuple(sorted(day)) for day in week)


def _holiday(value) -> date:
    if isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    try:
        return date.fromisoformat(value.strip())
    except (AttributeError, ValueError):
        raise ValueError(f"invalid holiday {value!r} (expected a date or YYYY-MM-DD)") from None


class _Memo(dict):
    """Bounded memo of days or blocks: a hit is a plain dict lookup (the hottest line of
    `add`; an LRU's reordering on every hit cost ~10 % of it). A miss builds the value
    (__missing__) and, past the limit, drops the oldest entries: the dates in use come
    straight back. The lock guards insertion and eviction; hits need none under the GIL."""

    def __init__(self, limit: int, build):
        super().__init__()
        self.limit, self.build, self.lock = limit, build, threading.Lock()

    def __missing__(self, key):
        value = self.build(key)
        with self.lock:
            self[key] = value
            while len(self) > self.limit:
                del self[next(iter(self))]
        return value


def _normalise(timezone, hours, holidays, country) -> tuple:
    name = timezone.key if isinstance(timezone, ZoneInfo) else timezone
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {timezone!r}") from None
    week = _normalise_hours(hours)
    if not any(week):
        raise ValueError("calendar has no opening hours")
    country = country.strip().upper() or None if isinstance(country, str) else country
    if country is not None and country not in holiday_countries():
        raise ValueError(f"unknown holiday country {country!r}")
    return (name, week, tuple(sorted({_holiday(h) for h in holidays or ()})), country)


def _overlap(segments, a: datetime, b: datetime) -> timedelta:
    total = _ZERO
    for s, e in segments:
        if e > a and s < b:
            total += min(e, b) - max(s, a)
    return total


class BusinessCalendar:
    """Weekly opening hours in one IANA zone, minus holidays; see the module comment for DST."""

    def __init__(self, timezone, hours, holidays=(), country=None):
        self._setup(_normalise(timezone, hours, holidays, country))

    def _setup(self, key: tuple) -> None:
        self._key = key
        name, week, holidays, self._country = key
        self._zone, self._holidays, self._years = ZoneInfo(name), frozenset(holidays), {}
        us = timedelta(microseconds=1)
        self._spans = tuple(tuple((s * us, e * us) for s, e in day) for day in week)
        # The memos' __getitem__, not a method: no Python frame at all on a hit
        self._entry = _Memo(_DAY_CACHE, self._build_entry).__getitem__
        self._block = _Memo(_BLOCK_CACHE, self._build_block).__getitem__
        # Try block skipping only when the rest likely exceeds a block (pure speed heuristic).
        self._block_hint = sum((e - s for d in self._spans for s, e in d), _ZERO) * _BLOCK / 14

    timezone = property(lambda self: self._key[0], doc="IANA zone name")
    zone = property(lambda self: self._zone, doc="the ZoneInfo")

    def key(self) -> tuple:
        """Hashable normalised identity (timezone, hours, holidays, country)."""
        return self._key

    def __eq__(self, other):
        return self._key == other._key if isinstance(other, BusinessCalendar) else NotImplemented

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        return f"BusinessCalendar.from_dict({self.to_dict()!r})"

    @classmethod
    def from_dict(cls, d) -> BusinessCalendar:
        return cls(d["timezone"], d["hours"], d.get("holidays") or (), d.get("country"))

    def to_dict(self) -> dict:
        """JSON-safe form (string weekday keys, "HH:MM" times) that from_dict reads back."""
        name, week, holidays, country = self._key
        hours = {
            str(day): [[_format_time(s), _format_time(e - _US_PER_DAY * (e > _US_PER_DAY))]
                       for s, e in intervals]  # an overnight end is the next day's clock time
            for day, intervals in enumerate(week) if intervals
        }
        days = [d.isoformat() for d in holidays]
        return {"timezone": name, "hours": hours, "holidays": days, "country": country}

    def is_open(self, at: datetime) -> bool:
        t = self._to_utc(at)
        return any(s <= t < e for s, e in self._locate(t)[1][2])

    def add(self, start: datetime, delta: timedelta) -> datetime:
        """Instant at which ``delta`` of open time has passed after ``start``."""
        if delta < _ZERO:  # a non-timedelta raises TypeError right here
            raise ValueError("delta must not be negative")
        t = self._to_utc(start)
        if not delta:
            return self._out(t)
        n, (lo, _, segments, total) = self._locate(t)
        left, idle = delta, 0
        while True:
            if lo >= t and total < left:  # the whole day lies after start: skip it by its total
                left -= total
                idle = 0 if total else idle + 1
            else:
                for s, e in segments:
                    if e > t:
                        span = e - (s if s > t else t)
                        if left <= span:  # "<=": landing exactly on a close returns the close
                            return self._out(e - span + left)
                        left -= span
                        idle = 0
            n += 1
            while n % _BLOCK == 0 and left > self._block_hint:
                total = self._block(n // _BLOCK)
                if total >= left:
                    break
                left -= total
                n += _BLOCK
                idle = 0 if total else idle + _BLOCK
            if idle > _MAX_IDLE_DAYS:
                raise ValueError(f"calendar has no open time for over {_MAX_IDLE_DAYS} days "
                                 f"after {start}: holidays block every opening")
            lo, _, segments, total = self._entry(n)

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Open time between two instants (zero when end <= start)."""
        a, b = self._to_utc(start), self._to_utc(end)
        if b <= a:
            return _ZERO
        (na, ea), (nb, eb) = self._locate(a), self._locate(b)
        if na == nb:
            return _overlap(ea[2], a, b)
        total = _overlap(ea[2], a, ea[1]) + _overlap(eb[2], eb[0], b)
        n = na + 1
        while n < nb:
            step = _BLOCK if n % _BLOCK == 0 and n + _BLOCK <= nb else 1
            total += self._block(n // _BLOCK) if step > 1 else self._entry(n)[3]
            n += step
        return total

    def _to_utc(self, dt: datetime) -> datetime:
        if not isinstance(dt, datetime):
            raise TypeError(f"expected a datetime, not {type(dt).__name__}")
        offset = dt.utcoffset()  # None when naive: wall-clock time here, fold as given
        return dt.replace(tzinfo=None) - (self._zone.utcoffset(dt) if offset is None else offset)

    def _out(self, t: datetime) -> datetime:
        return self._zone.fromutc(t.replace(tzinfo=self._zone))

    def _locate(self, t: datetime) -> tuple[int, tuple]:
        """Local date ordinal whose [midnight, next midnight) window holds UTC instant t."""
        n = self._out(t).toordinal()
        entry = self._entry(n)
        while not entry[0] <= t < entry[1]:  # only in zones whose transitions touch midnight
            n += 1 if t >= entry[1] else -1
            entry = self._entry(n)
        return n, entry

    def _is_holiday(self, day: date) -> bool:
        if self._country is None or day in self._holidays:
            return day in self._holidays
        if day.year not in self._years:  # the package builds a whole year at a time
            import holidays

            found = holidays.country_holidays(self._country, years=day.year)
            self._years[day.year] = frozenset(found)
        return day in self._years[day.year]

    def _owned(self, n: int) -> list:
        """UTC intervals that start on local date n (a holiday starts none)."""
        base = datetime.fromordinal(n)
        if self._is_holiday(base.date()):
            return []
        offset = self._zone.utcoffset
        out = []
        for s, e in self._spans[base.weekday()]:
            ws, we = base + s, base + e  # wall-clock: DST keeps opening hours fixed locally
            us, ue = ws - offset(ws), we - offset(we)
            if ue > us:  # a boundary in a DST gap can collapse an interval
                out.append((us, ue))
        return out

    def _build_entry(self, n: int) -> tuple:
        """(window start, window end, merged open segments, their total) for local date n."""
        offset = self._zone.utcoffset
        lo, hi = datetime.fromordinal(n), datetime.fromordinal(n + 1)
        lo, hi = lo - offset(lo), hi - offset(hi)
        # Overnight intervals of the previous day spill into this one; clipping everything to the
        # window makes days a partition of time, so add/elapsed/is_open never double count.
        segments: list = []
        for s, e in sorted(self._owned(n - 1) + self._owned(n)):
            s, e = max(s, lo), min(e, hi)
            if segments and s <= segments[-1][1]:  # overlapping or touching: merge
                s, e = segments[-1][0], max(e, segments.pop()[1])
            if e > s:
                segments.append((s, e))
        return (lo, hi, tuple(segments), sum((e - s for s, e in segments), _ZERO))

    def _build_block(self, b: int) -> timedelta:
        return sum((self._entry(n)[3] for n in range(b * _BLOCK, (b + 1) * _BLOCK)), _ZERO)


@functools.cache
def holiday_countries() -> frozenset[str]:
    """The country codes (aliases included) the holidays package has data for.

    Read from its registry, not `holidays.list_supported_countries()`, which imports all
    ~250 country modules to list their subdivisions: ~190 ms of CPU on its first call in each
    process, taken by the first SLA clock a web or job worker started (seen in a profile of
    intake under load). The package itself is imported lazily: most calendars never need it.
    """
    from holidays.registry import EntityLoader

    return frozenset(EntityLoader.get_country_codes(True))


@functools.lru_cache(maxsize=256)
def _shared(key: tuple) -> BusinessCalendar:
    calendar = BusinessCalendar.__new__(BusinessCalendar)
    calendar._setup(key)
    return calendar


def calendar_for(timezone, hours, holidays=(), country=None) -> BusinessCalendar:
    """Shared calendar for these settings, so callers reuse its per-date caches."""
    return _shared(_normalise(timezone, hours, holidays, country))
