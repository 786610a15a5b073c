"""Business calendars: POST /calendars validated by building a BusinessCalendar, and the page."""
import pytest

from referral_app.models import Calendar
from tests.conftest import sign_in

BODY = {"name": "Berlin office", "timezone": "Europe/Berlin",
        "hours": {"0": [["09:00", "12:00"], ["13:00", "17:00"]], "4": [["09:00", "15:00"]]},
        "holidays": ["2026-12-24", "2026-12-31"], "country": "DE"}


@pytest.mark.parametrize("role", ["marketing", "admin"])
def test_marketing_and_admin_create_calendars(api, make_user, db, role):
    response = api(make_user(role)).post("/api/v1/calendars", json=BODY)
    assert response.status_code == 201, response.json
    assert response.json["id"] and response.json["timezone"] == "Europe/Berlin"
    assert response.json["hours"]["0"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    calendar = db.session.get(Calendar, response.json["id"])
    business = calendar.business()
    from datetime import datetime
    assert business.is_open(datetime(2026, 3, 2, 10, 0)) is True      # a Monday morning
    assert business.is_open(datetime(2026, 3, 2, 12, 30)) is False     # lunch
    assert business.is_open(datetime(2026, 3, 3, 10, 0)) is False      # Tuesday: closed


@pytest.mark.parametrize("change, field", [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"hours": {"0": [["25:00", "26:00"]]}}, "hours"),
    ({"hours": {"9": [["09:00", "17:00"]]}}, "hours"),
    ({"hours": {}}, "hours"),
    ({"hours": {"0": [["09:00"]]}}, "hours"),
    ({"holidays": ["24.12.2026"]}, "holidays"),
    ({"country": "XX"}, "country"),
    ({"name": ""}, "name"),
])
def test_bad_calendars_are_422_naming_the_field(api, make_user, change, field):
    response = api(make_user("marketing")).post("/api/v1/calendars", json={**BODY, **change})
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"], response.json


def test_duplicate_name_is_409(api, make_user):
    client = api(make_user("marketing"))
    assert client.post("/api/v1/calendars", json=BODY).status_code == 201
    again = client.post("/api/v1/calendars", json=BODY)
    assert again.status_code == 409 and again.json["error"]["code"] == "duplicate"


@pytest.mark.parametrize("role", ["sales", "sales_manager", "referrer"])
def test_other_roles_may_not_create_calendars(api, make_user, role):
    assert api(make_user(role)).post("/api/v1/calendars", json=BODY).status_code == 403


def test_calendar_page_creates_one_from_weekday_hours(client, make_user, db):
    sign_in(client, make_user("marketing"))
    form = {"name": "NYC", "timezone": "America/New_York", "monday": "09:00-17:00",
            "tuesday": "09:00-12:00, 13:00-17:00", "wednesday": "", "thursday": "",
            "friday": "", "saturday": "22:00-02:00", "sunday": "",
            "holidays": "2026-07-03\n2026-12-24", "country": "us"}
    response = client.post("/programs/calendars", data=form)
    assert response.status_code == 303
    calendar = db.session.scalar(db.select(Calendar).where(Calendar.name == "NYC"))
    assert calendar.hours == {"0": [["09:00", "17:00"]],
                              "1": [["09:00", "12:00"], ["13:00", "17:00"]],
                              "5": [["22:00", "02:00"]]}
    assert calendar.holidays == ["2026-07-03", "2026-12-24"] and calendar.country == "US"
    page = client.get("/programs/calendars")
    assert b"NYC" in page.data and b"22:00\xe2\x80\x9302:00" in page.data


def test_calendar_page_shows_errors_beside_the_fields(client, make_user, db):
    sign_in(client, make_user("admin"))
    response = client.post("/programs/calendars", data={
        "name": "Bad", "timezone": "UTC", "monday": "9 to 5", "country": ""})
    assert response.status_code == 422
    assert b"Write opening hours as 09:00-17:00" in response.data
    response = client.post("/programs/calendars", data={
        "name": "Bad", "timezone": "UTC", "monday": "09:00-25:00"})
    assert response.status_code == 422 and b"invalid time of day" in response.data
    assert db.session.scalar(db.select(Calendar)) is None
