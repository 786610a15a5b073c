"""A referee opens a referral link, reads the offer, leaves their details; a second time is friendly."""
import pytest
from sqlalchemy import func, select

from referral_app.models import Referral
from tests import factories as f
from tests.browser_fixtures import go

pytestmark = pytest.mark.browser


def test_a_referee_claims_the_offer_once_and_is_told_kindly_the_second_time(page, db, make_user):
    page.set_default_timeout(10_000)
    f.agreement("Widget", f.calendar(name="referee-cal"))
    program = f.program(slug="widget-friends", landing_headline="Widget, for your whole team",
                        give_offer="20% off the first year")
    referrer = make_user("referrer", kind="partner", name="Nora Partner")
    code = f.code(referrer, program).code
    db.session.commit()

    for attempt in range(2):
        page.goto(f"/r/{code}")
        assert page.get_by_text("Nora invited you").is_visible()
        assert page.get_by_role("heading", name="Widget, for your whole team").is_visible()
        assert page.locator(".offer").inner_text() == "20% off the first year"
        page.get_by_label("Your name").fill("Rhea Referee")
        page.get_by_label("Work e-mail").fill("Rhea@Prospect.example")
        page.get_by_label("I agree to be contacted").check()
        go(page, page.get_by_role("button", name="Claim 20% off the first year"))
        if attempt == 0:
            assert page.get_by_role("heading", name="Thank you!").is_visible()
            assert page.get_by_text("20% off the first year").is_visible()
        else:
            assert page.get_by_role("heading", name="You're already in touch with us").is_visible()
            assert page.get_by_text("nothing more to do").is_visible()
    assert db.session.scalar(select(func.count()).select_from(Referral)) == 1
