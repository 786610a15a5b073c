"""The pack in Chromium: charts draw under the strict CSP, and it prints to a PDF."""
import pytest

from tests.reports.conftest import Q1

pytestmark = pytest.mark.browser


def test_the_pack_draws_its_charts_and_prints(world, page, make_user):
    """The page fixture fails the test on any console error (a CSP violation included)."""
    user = make_user("marketing")
    page.goto("/sign-in")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", "correct horse")
    page.click("button[type=submit]")
    page.goto(f"/reports/pack?from={Q1['from']}&to={Q1['to']}")
    drawn = page.evaluate("Array.from(document.querySelectorAll('canvas[data-chart]'))"
                          ".filter(c => c.chart).length")
    page.emulate_media(media="print")
    hidden = page.evaluate("getComputedStyle(document.querySelector('.report-filter')).display")
    pdf = page.pdf(format="A4")
    assert drawn >= 3  # funnel, speed and the SLA trend
    assert hidden == "none"
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
