"""Every role's pages fit a phone's width: nothing but a wide table (which scrolls in its
own box) may be wider than the screen, so no page scrolls sideways."""
import pytest

from tests import factories as f
from tests.browser_fixtures import sign_in_as

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 780}
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll('body *')].filter(e => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.right > width + 1 && !e.closest('.table-wrap');
  }).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
  return {page: document.documentElement.scrollWidth, screen: width, wide: wide.slice(0, 5)};
}"""


@pytest.fixture
def phone(page):
    page.set_viewport_size(PHONE)
    page.set_default_timeout(10_000)
    return page


def wide_parts(page, path: str) -> dict:
    page.goto(path)
    page.wait_for_load_state("load")
    found = page.evaluate(OVERFLOW)
    return found if found["page"] > found["screen"] or found["wide"] else {}


def test_each_roles_pages_fit_a_phone(phone, db, make_user):
    f.agreement("Widget", f.calendar(name="phone-cal"))
    program = f.program(slug="phone-widget", name="Phone Widget")
    referrer = make_user("referrer", kind="customer", name="Cora Customer With A Long Name")
    rep = make_user("sales", product="Widget", name="Rita Rep")
    f.code(referrer, program)
    lead = f.lead(program, referrer, rep, email="quinn@prospect.example")
    db.session.commit()
    pages = {
        referrer: ["/portal/", "/portal/referrals", "/rewards/mine",
                   f"/portal/programs/{program.slug}"],
        rep: ["/queue/", f"/queue/leads/{lead.id}", "/reports/mine", "/programs/glossary"],
        make_user("marketing", name="Mo Marketing"): [
            "/programs/", f"/programs/{program.slug}", "/programs/agreements", "/rewards/",
            "/reports/", "/reports/pack", "/reports/sla", "/intake/imports"],
        make_user("admin", name="Ada Admin"): ["/admin/users", "/admin/outbox", "/queue/team",
                                               "/privacy/admin", "/admin/tokens"],
    }
    too_wide = {}
    for user, paths in pages.items():
        phone.context.clear_cookies()
        sign_in_as(phone, user)
        for path in paths:
            found = wide_parts(phone, path)
            if found:
                too_wide[path] = found
    assert too_wide == {}
