"""The calendars API: business calendars that SLA clocks run on."""

from blueprints.api.base import Blueprint, require
from referral_app.extensions import db
from referral_app.schemas.calendars import CalendarIn, CalendarOut
from referral_app.services import calendars

blp = Blueprint("calendars_api", __name__, description="Business calendars: zone, hours, holidays.")


@blp.before_request
def authorise():
    require("calendar.write")


@blp.post("/calendars")
@blp.arguments(CalendarIn)
@blp.response(201, CalendarOut)
@blp.alt_response(403, response="FORBIDDEN")
@blp.alt_response(409, response="CONFLICT", description="`duplicate`: the name is taken.")
def create_calendar(data: dict):
    """Create a business calendar (marketing, admin); it is validated by building it."""
    calendar = calendars.create_calendar(data)
    db.session.commit()
    return calendar
