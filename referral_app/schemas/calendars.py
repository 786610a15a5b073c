"""Schemas of the calendars API: a business calendar (zone, weekly hours, holidays)."""
from marshmallow import fields

from referral_app.schemas import Schema

HOURS_HELP = ('{"0": [["09:00", "17:00"]], ...}: weekday 0 is Monday; an end not after its '
              'start runs past midnight; "24:00" ends a day.')


class CalendarIn(Schema):
    name = fields.String(required=True)
    timezone = fields.String(required=True, metadata={"description": "IANA name, e.g. Europe/Berlin"})
    hours = fields.Dict(keys=fields.String(), values=fields.List(fields.List(fields.String())),
                        required=True, metadata={"description": HOURS_HELP})
    holidays = fields.List(fields.String(), load_default=list,
                           metadata={"description": "Extra closed dates, YYYY-MM-DD."})
    country = fields.String(allow_none=True, load_default=None, metadata={
        "description": "Adds this country's public holidays (e.g. US)."})


class CalendarOut(CalendarIn):
    id = fields.Integer()
    holidays = fields.List(fields.String())
    country = fields.String(allow_none=True)
