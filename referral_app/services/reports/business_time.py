"""Business hours between two instants for many rows: in SQL on PostgreSQL, else the calendar.

Time to first attempt is reported in business hours, which SQL cannot know by itself. On
PostgreSQL we send, per calendar, the cumulative open seconds at every UTC hour of the
report's span (and at every minute of the few hours a calendar opens or closes mid-hour) as
array parameters, built once from `BusinessCalendar.elapsed` and cached. Open time up to an
instant is then `cum[hour] + seconds into the hour * open share` (an O(1) array subscript per
row, no join), the elapsed time is the difference of two such lookups, and medians, p90s
and speed bands are ordinary aggregates (`percentile_cont`). That keeps a million leads out
of Python. It is exact for calendars whose opening times are whole minutes; an opening at a
second inside a minute is interpolated within that minute.

Elsewhere (SQLite, the embedded default with small data) the rows are read and measured with
`BusinessCalendar.elapsed`; both paths give the same figures (tests check that).
"""
import functools
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    bindparam,
    case,
    cast,
    extract,
    func,
    literal,
    null,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql.elements import Grouping

from referral_app.calendar import BusinessCalendar
from referral_app.extensions import db

SQL_ENABLED = True  # tests switch this off to run the calendar path on PostgreSQL
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
HOUR, MINUTE = 3600, 60


@dataclass
class Timing:
    """One group's time-to-event figures; durations in business seconds."""

    rows: int = 0
    timed: int = 0  # rows whose event happened (the others have no duration yet)
    percentiles: dict = field(default_factory=dict)  # {0.5: seconds, 0.9: seconds}
    bands: list = field(default_factory=list)  # [(rows, won)] per band, then the untimed


def use_sql() -> bool:
    return SQL_ENABLED and db.engine.dialect.name == "postgresql"


def summarise(pop, sets: list[list[str]], calendars: dict[int, BusinessCalendar], span: tuple,
              percentiles=(0.5, 0.9), edges=(), stored: bool = False) -> dict[tuple, Timing]:
    """Measure started_at → ended_at of every row of `pop` in its calendar's open hours and
    summarise per group, for each grouping set: {(set number, *key values): Timing}.

    `pop` is a subquery with the key columns, calendar_id, started_at, ended_at (NULL while
    the event has not happened) and won (0/1). `edges` (seconds, ascending) cut the bands.
    `span` (lo, hi) must contain every started_at and ended_at. With `stored`, `pop` also has
    `secs` (the duration stored when the event happened) for every row whose event happened,
    and no slot tables are built: the figures are plain aggregates of that column.
    """
    if use_sql():
        if stored:
            return _aggregate(_stored(pop, sets), sets, percentiles, edges)
        return _summarise_sql(pop, sets, calendars, span, percentiles, edges)
    return _summarise_python(pop, sets, calendars, percentiles, edges)


def percentile(values: list[float], share: float) -> float | None:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    position = share * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def band_of(seconds: float | None, edges) -> int:
    if seconds is None:
        return len(edges) + 1
    return sum(1 for edge in edges if seconds >= edge)


def seconds_of(calendars, calendar_id, started, ended, stored) -> float | None:
    """Business seconds from start to the event: stored when it happened, else measured in
    the calendar (older rows); None while it has not happened."""
    if ended is None:
        return None
    if stored is not None:
        return float(stored)
    if calendar_id in calendars:
        return max(calendars[calendar_id].elapsed(started, ended).total_seconds(), 0.0)
    return None


def _summarise_python(pop, sets, calendars, percentiles, edges) -> dict[tuple, Timing]:
    names = sorted({name for keys in sets for name in keys})
    has_secs = "secs" in pop.c
    stmt = select(*[pop.c[k] for k in names], pop.c.calendar_id, pop.c.started_at,
                  pop.c.ended_at, pop.c.won, pop.c.secs if has_secs else null())
    groups: dict[tuple, tuple[Timing, list]] = {}
    for row in db.session.execute(stmt).yield_per(5000):
        values = dict(zip(names, row[: len(names)], strict=True))
        calendar_id, started, ended, won, stored = row[len(names):]
        seconds = seconds_of(calendars, calendar_id, started, ended, stored)
        for number, keys in enumerate(sets):
            key = (number, *[values[k] for k in keys])
            timing, measured = groups.setdefault(
                key, (Timing(bands=[[0, 0] for _ in range(len(edges) + 2)]), []))
            timing.rows += 1
            if seconds is not None:
                timing.timed += 1
                measured.append(seconds)
            band = timing.bands[band_of(seconds, edges)]
            band[0] += 1
            band[1] += int(won or 0)
    out = {}
    for key, (timing, measured) in groups.items():
        timing.percentiles = {share: percentile(measured, share) for share in percentiles}
        timing.bands = [tuple(b) for b in timing.bands]
        out[key] = timing
    return out


def _summarise_sql(pop, sets, calendars, span, percentiles, edges) -> dict[tuple, Timing]:
    first, last = _hour_range(*span)
    # Each layer is a MATERIALIZED CTE so PostgreSQL computes its columns once per row
    # instead of inlining the expressions into every place that reads them.
    keys = sorted({name for group in sets for name in group})
    located = select(*[pop.c[k] for k in keys], pop.c.calendar_id,
                     func.coalesce(pop.c.won, 0).label("won"),
                     *_locate(pop.c.started_at, "s", first), *_locate(pop.c.ended_at, "e", first)) \
        .cte("located").prefix_with("MATERIALIZED")
    opened = _open_seconds(located, "s", calendars, first, last)
    closed = _open_seconds(located, "e", calendars, first, last)
    bounds = select(*[located.c[k] for k in keys], located.c.won, opened.label("opened"),
                    closed.label("closed")).cte("bounds").prefix_with("MATERIALIZED")
    # GREATEST ignores NULLs, so an event that has not happened must stay NULL explicitly.
    secs = case((or_(bounds.c.opened.is_(None), bounds.c.closed.is_(None)), None),
                else_=func.greatest(bounds.c.closed - bounds.c.opened, 0.0))
    measured = select(*[bounds.c[k] for k in keys], bounds.c.won, secs.label("secs")) \
        .cte("measured").prefix_with("MATERIALIZED")
    return _aggregate(measured, sets, percentiles, edges)


def _stored(pop, sets):
    """The population with its stored durations, shaped as _aggregate reads it."""
    keys = sorted({name for group in sets for name in group})
    secs = case((pop.c.ended_at.is_(None), None), else_=cast(pop.c.secs, Float))
    return select(*[pop.c[k] for k in keys], func.coalesce(pop.c.won, 0).label("won"),
                  secs.label("secs")).cte("measured")


def _aggregate(measured, sets, percentiles, edges) -> dict[tuple, Timing]:
    """Counts, percentiles and speed bands of `measured` (keys, won, secs) per grouping set."""
    keys = sorted({name for group in sets for name in group})
    secs, won = measured.c.secs, measured.c.won
    band_expr = case(*[(secs < edge, i) for i, edge in enumerate(edges)],
                     else_=len(edges)) if edges else 0
    band_expr = case((secs.is_(None), len(edges) + 1), else_=band_expr)
    names = keys
    cols = [measured.c[k] for k in names]
    measures = [func.count(), func.count(secs)]
    measures += [func.percentile_cont(share).within_group(secs) for share in percentiles]
    for band in range(len(edges) + 2):
        hit = band_expr == band
        measures += [func.sum(case((hit, 1), else_=0)), func.sum(case((hit, won), else_=0))]
    if len(sets) == 1:
        stmt = select(literal(0), *cols, *measures).group_by(*cols)
    else:
        # One pass for several groupings (e.g. per month and per period): GROUPING SETS, and
        # GROUPING() tells which set a row belongs to (a bit per column left out).
        masks = {sum(1 << (len(names) - 1 - i) for i, n in enumerate(names) if n not in group): no
                 for no, group in enumerate(sets)}
        stmt = select(func.grouping(*cols), *cols, *measures).group_by(
            func.grouping_sets(*[tuple_(*[measured.c[k] for k in group]) for group in sets]))
    out = {}
    for row in db.session.execute(stmt):
        number = row[0] if len(sets) == 1 else masks[row[0]]
        values = dict(zip(names, row[1: 1 + len(names)], strict=True))
        rest = row[1 + len(names):]
        if not rest[0]:
            continue
        pct = rest[2: 2 + len(percentiles)]
        flat = rest[2 + len(percentiles):]
        out[(number, *[values[k] for k in sets[number]])] = Timing(
            rows=rest[0], timed=rest[1],
            percentiles={s: (float(v) if v is not None else None)
                         for s, v in zip(percentiles, pct, strict=True)},
            bands=[(int(flat[i] or 0), int(flat[i + 1] or 0)) for i in range(0, len(flat), 2)])
    return out


def _hour_range(lo: datetime, hi: datetime) -> tuple[int, int]:
    first = math.floor((lo - EPOCH).total_seconds() / HOUR)
    # Whole days past `hi`, so one cached table serves every report of the day.
    last = math.ceil((hi - EPOCH).total_seconds() / 86400) * 24 + 24
    return first, last


def _locate(column, prefix: str, first: int) -> list:
    """The instant as (1-based hour slot, seconds into that hour, minute of the hour)."""
    epoch = cast(extract("epoch", column), Float)
    hour = cast(func.floor(epoch / HOUR), BigInteger) - (first - 1)
    into = epoch - func.floor(epoch / HOUR) * HOUR
    return [hour.label(f"{prefix}_hour"), into.label(f"{prefix}_into"),
            cast(func.floor(into / MINUTE), Integer).label(f"{prefix}_minute")]


def _open_seconds(located, prefix: str, calendars, first: int, last: int):
    """Open seconds from the start of the slot table up to the located instant, in the row's
    calendar (NULL outside the table): array subscripts, O(1) per row and no join."""
    hour, into = located.c[f"{prefix}_hour"], located.c[f"{prefix}_into"]
    minute = located.c[f"{prefix}_minute"]
    whens = []
    for ident, calendar in sorted(calendars.items()):
        cum, opened, pointer, m_cum, m_open = (
            Grouping(bindparam(f"bh_{name}_{ident}", values, type_=ARRAY(kind)))
            for name, values, kind in zip(
                ("cum", "open", "ptr", "mcum", "mopen"), arrays(calendar, first, last),
                (Float, Float, Integer, Float, Float), strict=True))
        at = pointer[hour] + minute + 1
        whens.append((located.c.calendar_id == ident, case(
            (or_(hour < 1, hour > last - first), None),
            (or_(opened[hour] == 0, opened[hour] == HOUR), cum[hour] + into * opened[hour] / HOUR),
            else_=m_cum[at] + (into - minute * MINUTE) * m_open[at] / MINUTE)))
    return case(*whens, else_=None) if whens else null()


@functools.lru_cache(maxsize=32)
def arrays(calendar: BusinessCalendar, first_hour: int, last_hour: int) -> tuple:
    """The slot table as five arrays: per hour cumulative and open seconds and a pointer
    (0-based) to its minutes, then per minute of partly open hours the same two figures."""
    hours, minutes = slots(calendar, first_hour, last_hour)
    pointers, seen = [], 0
    for _, _, open_seconds in hours:
        pointers.append(seen if 0 < open_seconds < HOUR else 0)
        if 0 < open_seconds < HOUR:
            seen += 60
    return ([h[1] for h in hours], [h[2] for h in hours], pointers,
            [m[1] for m in minutes], [m[2] for m in minutes])


def slots(calendar: BusinessCalendar, first_hour: int, last_hour: int) -> tuple[list, list]:
    """([(hour, open seconds before it, open seconds in it)], the same per minute for hours
    that are only partly open), cumulative from `first_hour`."""
    hours, minutes = [], []
    total = 0.0
    step, tick = timedelta(hours=1), timedelta(minutes=1)
    at = EPOCH + first_hour * step
    for index in range(first_hour, last_hour):
        open_seconds = calendar.elapsed(at, at + step).total_seconds()
        hours.append((index, total, open_seconds))
        if 0 < open_seconds < HOUR:
            running = total
            for m in range(60):
                start = at + m * tick
                seconds = calendar.elapsed(start, start + tick).total_seconds()
                minutes.append((index * 60 + m, running, seconds))
                running += seconds
        total += open_seconds
        at += step
    return hours, minutes
