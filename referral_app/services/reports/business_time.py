"""Business hours between two instants for many rows: in SQL on PostgreSQL, else the calendar.

Time to first attempt is reported in business hours, which SQL cannot know by itself. On
PostgreSQL we send, per calendar, a table of cumulative open seconds at every UTC hour of the
report's span (and at every minute of the few hours a calendar opens or closes mid-hour),
built once from `BusinessCalendar.elapsed` and cached. Then open time up to an instant is
`cum(hour) + seconds into the hour * open share`, the elapsed time is a difference of two such
lookups (hash joins), and medians, p90s and speed bands are ordinary aggregates
(`percentile_cont`). That keeps a million leads out of Python. It is exact for calendars
whose opening times are whole minutes; an opening at a second inside a minute is
interpolated within that minute.

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
    and_,
    bindparam,
    case,
    cast,
    extract,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

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


def summarise(pop, keys: list[str], calendars: dict[int, BusinessCalendar], span: tuple,
              percentiles=(0.5, 0.9), edges=()) -> dict[tuple, Timing]:
    """Group `pop` by `keys` and measure started_at → ended_at in its calendar's hours.

    `pop` is a subquery with columns `keys`, calendar_id, started_at, ended_at (NULL while
    the event has not happened) and won (0/1). `edges` (seconds, ascending) cut the bands.
    `span` (lo, hi) must contain every started_at and ended_at.
    """
    if use_sql():
        return _summarise_sql(pop, keys, calendars, span, percentiles, edges)
    return _summarise_python(pop, keys, calendars, percentiles, edges)


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


def _summarise_python(pop, keys, calendars, percentiles, edges) -> dict[tuple, Timing]:
    columns = [pop.c[k] for k in keys]
    stmt = select(*columns, pop.c.calendar_id, pop.c.started_at, pop.c.ended_at, pop.c.won)
    groups: dict[tuple, tuple[Timing, list]] = {}
    for row in db.session.execute(stmt).yield_per(5000):
        key = tuple(row[: len(keys)])
        calendar_id, started, ended, won = row[len(keys):]
        timing, values = groups.setdefault(
            key, (Timing(bands=[[0, 0] for _ in range(len(edges) + 2)]), []))
        timing.rows += 1
        seconds = None
        calendar = calendars.get(calendar_id)
        if ended is not None and calendar is not None:
            seconds = max(calendar.elapsed(started, ended).total_seconds(), 0.0)
            timing.timed += 1
            values.append(seconds)
        band = timing.bands[band_of(seconds, edges)]
        band[0] += 1
        band[1] += int(won or 0)
    out = {}
    for key, (timing, values) in groups.items():
        timing.percentiles = {share: percentile(values, share) for share in percentiles}
        timing.bands = [tuple(b) for b in timing.bands]
        out[key] = timing
    return out


def _summarise_sql(pop, keys, calendars, span, percentiles, edges) -> dict[tuple, Timing]:
    hours, minutes = _slot_ctes(calendars, *span)
    h1, h2, m1, m2 = hours.alias("bh_h1"), hours.alias("bh_h2"), minutes.alias("bh_m1"), \
        minutes.alias("bh_m2")
    source = pop
    opened = _open_seconds(pop.c.started_at, pop.c.calendar_id, h1, m1)
    closed = _open_seconds(pop.c.ended_at, pop.c.calendar_id, h2, m2)
    for hour, minute, column in ((h1, m1, pop.c.started_at), (h2, m2, pop.c.ended_at)):
        epoch = extract("epoch", column)
        source = source.outerjoin(hour, and_(
            hour.c.cal == pop.c.calendar_id,
            hour.c.idx == cast(func.floor(epoch / HOUR), BigInteger)))
        source = source.outerjoin(minute, and_(
            minute.c.cal == pop.c.calendar_id,
            minute.c.idx == cast(func.floor(epoch / MINUTE), BigInteger)))
    # GREATEST ignores NULLs, so an event that has not happened must stay NULL explicitly.
    seconds = case((or_(opened.is_(None), closed.is_(None)), None),
                   else_=func.greatest(closed - opened, 0.0))
    cols = [pop.c[k] for k in keys]
    # Measure each row once in a derived table; the aggregates then only read its columns.
    measured = select(*cols, seconds.label("secs"), func.coalesce(pop.c.won, 0).label("won")) \
        .select_from(source).subquery("measured")
    secs, won = measured.c.secs, measured.c.won
    band_expr = case(*[(secs < edge, i) for i, edge in enumerate(edges)],
                     else_=len(edges)) if edges else 0
    band_expr = case((secs.is_(None), len(edges) + 1), else_=band_expr)
    keys_out = [measured.c[k] for k in keys]
    measures = [func.count(), func.count(secs)]
    measures += [func.percentile_cont(share).within_group(secs) for share in percentiles]
    for band in range(len(edges) + 2):
        hit = band_expr == band
        measures += [func.sum(case((hit, 1), else_=0)), func.sum(case((hit, won), else_=0))]
    stmt = select(*keys_out, *measures).group_by(*keys_out)
    out = {}
    for row in db.session.execute(stmt):
        key, rest = tuple(row[: len(keys)]), row[len(keys):]
        pct = rest[2: 2 + len(percentiles)]
        flat = rest[2 + len(percentiles):]
        out[key] = Timing(
            rows=rest[0], timed=rest[1],
            percentiles={s: (float(v) if v is not None else None) for s, v in zip(percentiles, pct, strict=True)},
            bands=[(int(flat[i] or 0), int(flat[i + 1] or 0)) for i in range(0, len(flat), 2)])
    return out


def _open_seconds(column, calendar_id, hour, minute):
    """Open seconds from the epoch of the slot table up to `column` (NULL outside the span)."""
    epoch = extract("epoch", column)
    in_minute = minute.c.cum + (epoch - minute.c.idx * MINUTE) * minute.c.open / MINUTE
    in_hour = hour.c.cum + (epoch - hour.c.idx * HOUR) * hour.c.open / HOUR
    return func.coalesce(in_minute, in_hour)


def _slot_ctes(calendars: dict[int, BusinessCalendar], lo: datetime, hi: datetime):
    first = math.floor((lo - EPOCH).total_seconds() / HOUR)
    # Whole days, so one cached table serves every report of the day.
    last = math.ceil((hi - EPOCH).total_seconds() / 86400) * 24 + 24
    arrays = {name: [] for name in ("hc", "hi", "hs", "ho", "mc", "mi", "ms", "mo")}
    for calendar_id, calendar in calendars.items():
        hours, minutes = slots(calendar, first, last)
        for target, rows in (("h", hours), ("m", minutes)):
            arrays[target + "c"].extend([calendar_id] * len(rows))
            for i, name in enumerate(("i", "s", "o")):
                arrays[target + name].extend(row[i] for row in rows)

    def table(prefix: str, name: str):
        values = func.unnest(
            bindparam(f"{name}_cal", arrays[prefix + "c"], type_=ARRAY(Integer)),
            bindparam(f"{name}_idx", arrays[prefix + "i"], type_=ARRAY(BigInteger)),
            bindparam(f"{name}_cum", arrays[prefix + "s"], type_=ARRAY(Float)),
            bindparam(f"{name}_open", arrays[prefix + "o"], type_=ARRAY(Float)),
        ).table_valued("cal", "idx", "cum", "open").render_derived(name=name)
        return select(values.c.cal, values.c.idx, values.c.cum, values.c.open).cte(name)

    return table("h", "bh_hours"), table("m", "bh_minutes")


@functools.lru_cache(maxsize=32)
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
