"""The interlock pack: one page with every section and its chart data, and notes per period."""
from pathlib import Path

import pytest

from referral_app.models import InterlockNote
from tests.conftest import sign_in
from tests.reports.conftest import Q1
from tests.reports.html import ReportPage


@pytest.fixture
def manager(client, make_user):
    return sign_in(client, make_user("sales_manager"))


def test_the_pack_has_every_section_with_its_data(world, frozen, manager):
    response = manager.get("/reports/pack", query_string={**Q1, "min_volume": 1})
    assert response.status_code == 200
    page = ReportPage(response.get_data(as_text=True))
    scorecard = page.tables["scorecard"][1]
    assert scorecard == [["Widget", "5", "30", "16.7%", "60.0%", "60.0%", "57.1%", "2.50",
                          "20.00", "50.0%", "100.0%", "4"]]
    assert page.tables["funnel"][1][0][:2] == ["Leads", "7"]
    assert dict(page.tables["funnel-value"][1])["Reward cost"] == "200.00"
    boards = [k for k in page.tables if k.startswith("leaderboard-")]
    assert len(boards) == 12
    assert page.tables["leaderboard-top-reps-won"][1][0] == ["1", "R1 Person", "4", "2", "50.0%"]
    assert page.tables["rejections"][1][0][2] == "No budget"
    assert page.tables["breaches"][1][0][0] == "R2 Person"
    assert page.chart("funnel")["datasets"][0]["data"][:5] == [7, 6, 4, 3, 2]
    assert [d["label"] for d in page.chart("trend-0")["datasets"]][:2] == ["MQLs delivered", "Target"]
    assert page.chart("speed")["datasets"][0]["data"] == [50.0, 50.0, 0.0, 0.0, 0.0]
    html = response.get_data(as_text=True)
    assert "data-print" in html and "js/reports.js" in html and "chart.umd.min.js" in html


def test_notes_are_saved_with_the_period(world, frozen, manager, db):
    response = manager.post("/reports/pack", query_string=Q1,
                            data={"notes": "Agreed: **call within the hour**", "version": "0"})
    assert response.status_code == 302
    note = db.session.query(InterlockNote).one()
    assert (str(note.period_from), str(note.period_to)) == (Q1["from"], Q1["to"])
    assert note.notes == "Agreed: **call within the hour**" and note.data["version"] == 1
    page = manager.get("/reports/pack", query_string=Q1).get_data(as_text=True)
    assert "<strong>call within the hour</strong>" in page  # the printable rendering
    assert 'name="version" type="hidden" value="1"' in page
    # Another period has its own notes.
    other = manager.get("/reports/pack", query_string={"from": "2026-04-01", "to": "2026-06-30"})
    assert "call within the hour" not in other.get_data(as_text=True)


def test_a_stale_save_does_not_overwrite_a_colleagues_notes(world, frozen, manager, db):
    first = manager.post("/reports/pack", query_string=Q1, data={"notes": "Mine", "version": "0"})
    assert first.status_code == 302
    late = manager.post("/reports/pack", query_string=Q1, data={"notes": "Theirs", "version": "0"})
    assert late.status_code == 409
    html = late.get_data(as_text=True)
    assert "Someone saved these notes" in html
    assert "Theirs</textarea>" in html
    assert 'value="1"' in html  # the next save is based on what is stored now
    assert db.session.query(InterlockNote).one().notes == "Mine"
    again = manager.post("/reports/pack", query_string=Q1, data={"notes": "Both", "version": "1"})
    assert again.status_code == 302
    assert db.session.query(InterlockNote).one().notes == "Both"


def test_notes_cannot_carry_script(world, frozen, manager):
    manager.post("/reports/pack", query_string=Q1,
                 data={"notes": "<script>alert(1)</script> ok", "version": "0"})
    page = manager.get("/reports/pack", query_string=Q1).get_data(as_text=True)
    assert "<script>alert(1)" not in page


def test_the_print_stylesheet_hides_the_controls():
    css = Path(__file__).resolve().parents[2].joinpath("static/css/app.css").read_text()
    block = css[css.index("/* === Reports and the interlock pack"):]
    printing = block[block.index("@media print"):]
    for selector in (".report-filter", ".notes-form", ".print-only", ".pack-section"):
        assert selector in printing
