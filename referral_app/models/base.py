"""Column helpers shared by every model: UTC timestamps, money, JSON."""
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import JSON, DateTime, Numeric, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import validates


def utcnow() -> datetime:
    return datetime.now(UTC)


def lower_email(value):
    """E-mails are stored lower-cased (the models' @validates): equality, and so the column's
    index, is the case-insensitive match every lookup wants."""
    return value.strip().lower() if isinstance(value, str) else value


def lowered(*columns: str):
    """A model's validator storing these e-mail columns lower-cased (`lower_email`); assign
    it in the class body: `_lowered = lowered("email")`."""
    @validates(*columns)
    def _lowered(self, key, value):
        return lower_email(value)
    return _lowered


class UTCDateTime(TypeDecorator):
    """Stored as UTC; always read back as an aware UTC datetime (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSONB on PostgreSQL (indexable), plain JSON elsewhere.
JSONType = JSON().with_variant(JSONB(), "postgresql")

MONEY = Numeric(14, 2)


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))
