"""The report pages: figures on the page, CSV equal to the page (but for thousands separators),
permissions, invalid dates."""
from datetime import UTC, datetime

import pytest
import time_machine

from blueprints.reports.tables import grouped
from tests.conftest import sign_in
from tests.reports.conftest import Q1
from tests.reports.html import ReportPage, read_csv

PAGES = ["/reports/", "/reports/leaderboards", "/reports/sla", "/reports/speed",
         "/reports/rejections", "/reports/referrers", "/reports/pack"]


@pytest.fixture
def marketing(client, make_user):
    return sign_in(client, make_user("marketing"))


def _get(client, path, **args):
    response = client.get(path, query_string={**Q1, **args})
    assert response.status_code == 200, response.data[:400]
    return ReportPage(response.get_data(as_text=True))


def test_dashboard_shows_the_funnel(world, frozen, marketing):
    page = _get(marketing, "/reports/")
    headers, rows = page.tables["funnel"]
    assert headers[:3] == ["Stage", "Reached", "Entered directly"]
    assert [r[:3] for r in rows] == [["Leads", "7", "7"], ["MQL", "6", "4"], ["SQL", "4", "3"],
                                     ["Opportunity", "3", "2"], ["Won", "2", "2"],
                                     ["Lost", "1", "1"], ["Rejected", "1", "1"],
                                     ["Recycled", "1", "1"]]
    assert rows[1][3] == "85.7%" and rows[4][3] == "66.7%"
    values = dict(page.tables["funnel-value"][1])
    assert values["Revenue (won deals)"] == "3,000.00"  # the CSV's cell is 3000.00
    assert values["Reward cost per won deal"] == "100.00"
    assert values["Referral → purchase"] == "28.6%"
    assert page.chart("funnel")["datasets"][0]["data"] == [7, 6, 4, 3, 2, 1, 1, 1]


def test_program_filter(world, frozen, marketing):
    page = _get(marketing, "/reports/", program="alpha")
    assert page.tables["funnel"][1][0][:2] == ["Leads", "4"]


@pytest.mark.parametrize("path", PAGES)
def test_every_table_downloads_as_the_same_csv(world, frozen, marketing, path):
    page = _get(marketing, path)
    assert page.tables, "the page shows tables"
    assert page.styled == 0  # strict CSP: no style attributes
    for attrs, _ in page.scripts:  # and no inline script that would run
        assert attrs.get("src") or attrs.get("type") == "application/json"
    for key, (headers, rows) in page.tables.items():
        response = marketing.get(f"/reports/{key}.csv", query_string=Q1)
        assert response.status_code == 200, key
        assert response.mimetype == "text/csv"
        csv_headers, csv_rows = read_csv(response.data)
        # The same cells; the page groups the thousands of big numbers.
        assert (csv_headers, [[grouped(c) for c in r] for r in csv_rows]) == (headers, rows), key


def test_the_combined_leaderboard_csv_holds_all_twelve(world, frozen, marketing):
    page = _get(marketing, "/reports/leaderboards", min_volume=1)
    response = marketing.get("/reports/leaderboards.csv", query_string={**Q1, "min_volume": 1})
    _, rows = read_csv(response.data)
    boards = [k for k in page.tables if k.startswith("leaderboard-")]
    assert len(boards) == 12
    assert len(rows) == sum(len(page.tables[k][1]) for k in boards) == 24
    assert rows[0] == ["Top programs by SQLs", "1", "Alpha", "4", "3", "75.0%"]


def test_sla_page_figures(world, frozen, marketing):
    page = _get(marketing, "/reports/sla")
    sales = page.tables["sla-sales"][1]
    assert sales[0][:8] == ["Widget", "Jan 2026", "3", "3", "0", "100.0%", "0.50", "1.70"]
    assert sales[3][:8] == ["Widget", "Period", "7", "4", "3", "57.1%", "2.50", "20.00"]
    marketing_side = page.tables["sla-marketing"][1]
    assert marketing_side[2][:8] == ["Widget", "Mar 2026", "2", "10", "20.0%", "1", "0", "50.0%"]
    assert page.tables["breaches"][1] == [["R2 Person", "2", "1", "0", "3"],
                                          ["R1 Person", "1", "0", "0", "1"]]
    trend = page.chart("trend-0")
    assert trend["datasets"][0]["data"] == [0, 0, 1, 1, 2, 2]


def test_speed_and_rejections_pages(world, frozen, marketing):
    speed = _get(marketing, "/reports/speed").tables["speed"][1]
    assert speed[0] == ["Under 1 business hour", "2", "1", "50.0%"]
    assert speed[4] == ["No attempt yet", "1", "0", "0.0%"]
    rejections = _get(marketing, "/reports/rejections").tables["rejections"][1]
    assert rejections[0][:5] == ["Alpha", "rejected", "No budget", "1", "100.0%"]
    assert "Too small" in rejections[0][5]


def test_default_period_is_the_current_quarter(world, client, make_user):
    manager = make_user("sales_manager")
    with time_machine.travel(datetime(2026, 2, 15, 15, tzinfo=UTC), tick=False):
        sign_in(client, manager)
        response = client.get("/reports/")
    assert response.status_code == 200
    assert "01 Jan 2026 – 31 Mar 2026" in response.get_data(as_text=True)
    assert ReportPage(response.get_data(as_text=True)).tables["funnel"][1][0][1] == "7"


@pytest.mark.parametrize("args, field", [({"from": "2026-13-01"}, "from"),
                                         ({"from": "2026-03-01", "to": "2026-01-01"}, "to"),
                                         ({"to": "yesterday"}, "to"),
                                         ({"program": "nope"}, "program")])
def test_invalid_filters_answer_422_on_pages(world, marketing, args, field):
    response = marketing.get("/reports/", query_string=args)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in html and 'class="field-error"' in html
    assert marketing.get("/reports/funnel.csv", query_string=args).status_code == 422


@pytest.mark.parametrize("role", ["referrer", "sales"])
def test_referrers_and_reps_cannot_read_team_reports(world, client, make_user, role):
    sign_in(client, make_user(role))
    for path in PAGES + ["/reports/funnel.csv", "/reports/breaches.csv"]:
        assert client.get(path, query_string=Q1).status_code == 403, path
    assert client.post("/reports/pack", query_string=Q1, data={"notes": "x"}).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/reports/")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_a_rep_sees_their_own_numbers(world, frozen, client, db):
    rep = world.users["R1"]
    rep.set_password("correct horse")
    db.session.commit()
    sign_in(client, rep)
    page = _get(client, "/reports/mine")
    assert page.tables["mine-conversion"][1][0] == ["Leads", "4", ""]
    assert page.tables["mine-sla"][1][0] == ["First attempt", "4", "3", "1", "0", "75.0%"]
    csv = client.get("/reports/mine-sla.csv", query_string=Q1)
    assert read_csv(csv.data) == page.tables["mine-sla"]
    # Only their own: R2's leads do not appear.
    assert page.tables["mine-conversion"][1][3] == ["Won", "2", "50.0%"]
    # The latest breaches name each lead and open it.
    lead = world.leads["L5"]
    html = client.get("/reports/mine", query_string=Q1).get_data(as_text=True)
    assert f'href="/queue/leads/{lead.id}">{lead.referral.referee_name}</a>' in html


def test_referrers_cannot_see_my_numbers(world, client, make_user):
    sign_in(client, make_user("referrer"))
    assert client.get("/reports/mine").status_code == 403
    assert client.get("/reports/mine-sla.csv").status_code == 403


def test_unknown_csv_is_404(world, marketing):
    assert marketing.get("/reports/nothing.csv").status_code == 404


@pytest.mark.parametrize("cell, shown", [
    ("266400.00", "266,400.00"), ("1234", "1,234"), ("-12000.5", "-12,000.5"),
    ("999.99", "999.99"), ("85.7%", "85.7%"), ("—", "—"), ("Acme 2024", "Acme 2024"), ("", "")])
def test_big_numbers_are_grouped_on_the_page_only(cell, shown):
    assert grouped(cell) == shown


def _stats(client, path, **args) -> tuple[str, str]:
    """The page, and its cards of figures that hold the reward cost."""
    response = client.get(path, query_string={**Q1, **args})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    end = html.index("reward cost</span>")
    return html, html[html.rindex('class="stats"', 0, end):end]


def _rule(program, currency):
    from decimal import Decimal

    from referral_app.models import RewardRule

    return RewardRule(program_id=program.id, side="get", trigger="won", kind="fixed",
                      amount=Decimal("10"), currency=currency)


def test_money_cards_carry_the_programs_currency(world, frozen, marketing, db):
    for program in world.programs.values():
        for rule in program.rules:
            rule.currency = "EUR"
        db.session.add(_rule(program, "EUR"))
    db.session.commit()
    for path in ("/reports/", "/reports/pack"):
        html, stats = _stats(marketing, path)
        assert "€3,000" in stats and "$" not in stats, path
        assert "These programs are priced in" not in html
    assert "Money is in EUR, the programs' currency" in _stats(marketing, "/reports/")[0]


def test_mixed_currencies_are_said_and_one_program_reads_plainly(world, frozen, marketing, db):
    db.session.add_all([_rule(world.programs["Alpha"], "USD"),
                        _rule(world.programs["Beta"], "CHF")])
    db.session.commit()
    for path in ("/reports/", "/reports/pack"):
        html, stats = _stats(marketing, path)
        assert "These programs are priced in CHF and USD" in html, path
        assert "$" not in stats and "CHF" not in stats  # a bare sum, no single symbol
    html, stats = _stats(marketing, "/reports/", program="alpha")
    assert "These programs are priced in" not in html and "$" in stats
