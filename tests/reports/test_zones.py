"""Reports with products on calendars in different zones, at the hours when those zones are
in different months: every page, download and API answer, and each product's current month
is its own zone's."""
from datetime import UTC, datetime

import pytest
import time_machine

from referral_app.services.reports import Period, cohort_days, rollups, sla_report
from tests import factories
from tests.conftest import sign_in
from tests.reports.conftest import Q1

# 31 March 18:00 UTC: 11:00 on 31 March in Los Angeles, 03:00 on 1 April in Tokyo.
BETWEEN_MONTHS = datetime(2026, 3, 31, 18, 0, tzinfo=UTC)
APRIL = {"from": "2026-04-01", "to": "2026-04-30"}  # "this month" to a viewer in Tokyo
PAGES = ["/reports/", "/reports/leaderboards", "/reports/sla", "/reports/speed",
         "/reports/rejections", "/reports/referrers", "/reports/pack"]
API = ["/api/v1/reports/funnel", "/api/v1/reports/leaderboards", "/api/v1/reports/sla"]


@pytest.fixture
def tokyo(world, db):
    """A second product, Gadget, whose agreement keeps Tokyo's calendar, with one lead."""
    cal = factories.calendar(name="Tokyo", timezone="Asia/Tokyo")
    agreement = factories.agreement(product="Gadget", cal=cal, monthly_qualified_leads=5)
    program = factories.program(slug="gadget", name="Gadget", product="Gadget")
    factories.lead(program, world.users["C1"], world.users["R1"],
                   received_at=datetime(2026, 3, 20, 3, tzinfo=UTC))
    db.session.commit()
    return agreement


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled up"])
@pytest.mark.parametrize("query", [Q1, APRIL], ids=["quarter", "april"])
def test_every_report_answers_between_two_zones_months(tokyo, db, client, make_user, api, query,
                                                       rolled):
    marketer = make_user("marketing")
    with time_machine.travel(BETWEEN_MONTHS, tick=False):
        if rolled:  # settled days read from the report days, each product in its own zone
            assert rollups.roll_up(BETWEEN_MONTHS) and cohort_days.roll_up(BETWEEN_MONTHS)
            db.session.commit()
        sign_in(client, marketer)
        for path in PAGES:
            response = client.get(path, query_string=query)
            assert response.status_code == 200, (path, response.data[-300:])
        assert client.get("/reports/funnel.csv", query_string=query).status_code == 200
        for path in API:
            response = api(marketer).get(path, query_string=query)
            assert response.status_code == 200, (path, response.json)


def test_each_products_trend_ends_in_its_own_zones_month(tokyo):
    with time_machine.travel(BETWEEN_MONTHS, tick=False):
        report = sla_report(Period(datetime(2026, 4, 1).date(), datetime(2026, 4, 30).date(),
                                   "Asia/Tokyo"), BETWEEN_MONTHS)
    trends = {p.product: [row.key for row in p.trend] for p in report.products}
    assert trends["Widget"][-1] == "2026-03"  # New York is still in March
    assert trends["Gadget"][-1] == "2026-04"  # Tokyo is in April
