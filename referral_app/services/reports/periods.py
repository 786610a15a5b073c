"""Report periods: inclusive local dates in an agreement's zone, turned into UTC bounds."""
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from referral_app.errors import ValidationFailed
from referral_app.extensions import db
from referral_app.models import Agreement, Calendar

EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
MAX_DAYS = 5 * 366  # five years: reports are for reviews, not archaeology


@dataclass(frozen=True)
class Bucket:
    """A labelled UTC interval [start, end), e.g. one month of a report."""

    key: str
    start: datetime
    end: datetime
    partial: bool = False  # clipped by the period: not the whole month
    share: float = 1.0  # the part of the whole month it covers (for pro-rated targets)


@dataclass(frozen=True)
class Period:
    """From and to, both inclusive, as dates in `timezone`."""

    start: date
    end: date
    timezone: str

    @property
    def start_utc(self) -> datetime:
        return local_midnight(self.start, self.timezone)

    @property
    def end_utc(self) -> datetime:
        """Exclusive: the local midnight after the last day."""
        return local_midnight(self.end + timedelta(days=1), self.timezone)

    def in_zone(self, timezone: str) -> "Period":
        return Period(self.start, self.end, timezone)

    def months(self) -> list[Bucket]:
        """The months the period touches, each clipped to the period."""
        out = []
        first = self.start.replace(day=1)
        while first <= self.end:
            after = next_month(first)
            lo, hi = max(first, self.start), min(after - timedelta(days=1), self.end)
            days = (hi - lo).days + 1
            out.append(Bucket(first.strftime("%Y-%m"), local_midnight(lo, self.timezone),
                              local_midnight(hi + timedelta(days=1), self.timezone),
                              partial=days != (after - first).days,
                              share=days / (after - first).days))
            first = after
        return out

    def trailing_months(self, count: int = 6, until: datetime | None = None) -> list[Bucket]:
        """Whole months: the `count` months ending with the month of the period's last day
        (or of `until`, when that comes first)."""
        last = self.end
        if until is not None:
            last = min(last, until.astimezone(ZoneInfo(self.timezone)).date())
        last = last.replace(day=1)
        firsts = [last]
        while len(firsts) < count:
            firsts.insert(0, (firsts[0] - timedelta(days=1)).replace(day=1))
        return [Bucket(f.strftime("%Y-%m"), local_midnight(f, self.timezone),
                       local_midnight(next_month(f), self.timezone)) for f in firsts]

    def as_args(self) -> dict:
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}

    @property
    def label(self) -> str:
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"


def local_midnight(day: date, timezone: str) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def quarter_of(day: date) -> tuple[date, date]:
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    after = next_month(next_month(next_month(first)))
    return first, after - timedelta(days=1)


def _as_date(value, name: str, errors: dict) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        parsed = value
    else:
        try:
            parsed = date.fromisoformat(str(value).strip())
        except ValueError:
            errors[name] = ["Not a valid date; use YYYY-MM-DD."]
            return None
    if not EARLIEST <= parsed <= LATEST:
        errors[name] = [f"Must be between {EARLIEST} and {LATEST}."]
        return None
    return parsed


def parse_period(raw_from, raw_to, timezone: str, now: datetime) -> Period:
    """The period for `from`/`to` (dates or YYYY-MM-DD), defaulting to the current quarter.

    Only `from`: to the end of its quarter. Only `to`: from the start of its quarter.
    Invalid input raises ValidationFailed (422) naming the field.
    """
    errors: dict = {}
    start, end = _as_date(raw_from, "from", errors), _as_date(raw_to, "to", errors)
    if errors:
        raise ValidationFailed("The report period is not valid.", fields=errors)
    if start is None and end is None:
        start, end = quarter_of(now.astimezone(ZoneInfo(timezone)).date())
    elif start is None:
        start = quarter_of(end)[0]
    elif end is None:
        end = quarter_of(start)[1]
    if end < start:
        raise ValidationFailed("The report period is not valid.",
                               fields={"to": ["Must be on or after the from date."]})
    if (end - start).days >= MAX_DAYS:
        raise ValidationFailed("The report period is not valid.",
                               fields={"to": ["A period may span at most five years."]})
    return Period(start, end, timezone)


def product_zones() -> dict[str, str]:
    """Each product's zone: the calendar of its newest in-force agreement."""
    rows = db.session.execute(
        select(Agreement.product, Calendar.timezone)
        .join(Calendar, Calendar.id == Agreement.calendar_id)
        .where(Agreement.status == "in_force").order_by(Agreement.product, Agreement.version))
    return {product: zone for product, zone in rows}  # the last (newest) version wins


def report_zone(product: str | None = None, default: str = "UTC") -> str:
    """The zone a cross-product report reads dates in.

    A product's own agreement zone when one is given; otherwise the zone most in-force
    agreements use (ties: alphabetical), so a single-zone company gets exact months.
    """
    zones = product_zones()
    if product is not None and product in zones:
        return zones[product]
    if not zones:
        return default
    counts = Counter(zones.values())
    return sorted(counts, key=lambda zone: (-counts[zone], zone))[0]
