"""The busiest pages show whole at a laptop's 1280 px on the demo's data: no table needs a
sideways scroll (every column of the pack, the SLA report, the team queue and the reward
review, with the reason and Reject button of each reward)."""
import pytest
from sqlalchemy import select

from referral_app.models import User
from tests.browser_fixtures import sign_in_as

pytestmark = pytest.mark.browser

LAPTOP = {"width": 1280, "height": 800}
PAGES = {
    "maya@demo.interlock": ["/rewards/?status=held", "/rewards/?status=pending",
                            "/reports/sla", "/reports/pack", "/reports/leaderboards",
                            "/intake/imports"],
    "sam@demo.interlock": ["/queue/team", "/queue/"],
}
SCROLLING = """() => [...document.querySelectorAll('.table-wrap')]
  .filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(e => (e.closest('figure,section,article') || e).id || e.querySelector('table').className)"""


def test_the_demos_busiest_pages_need_no_sideways_scroll(page, app, db):
    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    db.session.expire_all()
    page.set_viewport_size(LAPTOP)
    page.set_default_timeout(15_000)
    scrolling = {}
    for email, paths in PAGES.items():
        page.context.clear_cookies()
        sign_in_as(page, db.session.scalar(select(User).where(User.email == email)),
                   password="interlock-demo")
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("load")
            assert page.locator(".table-wrap").count(), path  # the page has its tables
            found = page.evaluate(SCROLLING)
            if found:
                scrolling[path] = found
    assert scrolling == {}
    # And the first held reward's Reject button lies inside the table's box.
    page.context.clear_cookies()
    sign_in_as(page, db.session.scalar(select(User).where(User.email == "maya@demo.interlock")),
               password="interlock-demo")
    page.goto("/rewards/?status=held")
    reject = page.get_by_role("button", name="Reject").first
    box, shown = reject.bounding_box(), page.locator(".table-wrap").first.bounding_box()
    assert box["x"] + box["width"] <= shown["x"] + shown["width"]
