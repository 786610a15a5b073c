"""Business calendars: time zone, weekly hours and holidays, stored as data."""
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from referral_app.extensions import db
from referral_app.models.base import JSONType


class Calendar(db.Model):
    __tablename__ = "calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    hours: Mapped[dict] = mapped_column(JSONType)  # {"0": [["09:00", "17:00"]], ...}
    holidays: Mapped[list] = mapped_column(JSONType, default=list)  # ["2026-12-24", ...]
    country: Mapped[str | None] = mapped_column(String(8))

    def business(self):
        """The BusinessCalendar this row describes (cached per definition)."""
        from referral_app.calendar import calendar_for

        # Checking the settings is cheap, normalising them is not: intake asks once per
        # lead, a group of leads once per row loaded. Tuples compare their items by identity
        # first: the same hours and holidays cost nothing to check (an edit assigns new
        # ones, services/calendars.py; repr() of both was ~3 % of the intake writer's CPU).
        settings = (self.timezone, self.hours, self.holidays, self.country)
        found = self.__dict__.get("_business")
        if found is None or found[0] != settings:
            found = self._business = (settings, calendar_for(
                self.timezone, self.hours, self.holidays or (), self.country))
        return found[1]
