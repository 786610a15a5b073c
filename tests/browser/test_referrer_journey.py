"""A partner signs up, copies their link, refers someone and follows the referral to a reward."""
import pytest
from sqlalchemy import select

from referral_app.models import Lead, Reward, User
from tests import factories as f
from tests.browser_fixtures import go, run_jobs

pytestmark = pytest.mark.browser


@pytest.fixture
def world(db, make_user):
    f.agreement("Widget", f.calendar(name="journey-cal"))
    program = f.program(slug="partner-widget", name="Partner Widget", kinds=("partner",),
                        rules=[("give", "submitted", "percent", 20), ("get", "won", "fixed", 100)])
    rep = make_user("sales", email="rep@journey.example", product="Widget")
    db.session.commit()
    return {"program": program, "rep": rep}


def test_a_partner_signs_up_refers_and_sees_the_stage_and_reward(page, app, db, api, world):
    page.set_default_timeout(10_000)
    program = world["program"]
    page.goto("/")
    go(page, page.get_by_text("Join as a referrer").first)
    page.get_by_label("Your name").fill("Pat Partner")
    page.get_by_label("Work e-mail").fill("pat@partner.example")
    page.get_by_label("Company").fill("Partner Co")
    page.get_by_label("Partner").check()
    page.get_by_label("Password").fill("a long password")
    go(page, page.get_by_role("button", name="Create my account"))
    assert page.get_by_text("Your account is ready").is_visible()
    assert page.get_by_role("heading", name="Partner Widget").is_visible()

    link = page.locator(f"#link-{program.id}").input_value()
    assert link.endswith(f"/r/{link.rsplit('/', 1)[-1]}") and "/r/" in link
    page.get_by_role("button", name="Copy link").first.click()
    page.get_by_role("button", name="Copied!").first.wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == link

    go(page, page.get_by_role("button", name="Refer someone").first)
    # The program's page: ready-to-send texts, each with its own copy button.
    page.get_by_role("button", name="Copy LinkedIn post").click()
    page.get_by_role("button", name="Copied!").first.wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == \
        page.locator(f"#linkedin-{program.id}").input_value()
    page.get_by_label("Their name").fill("Rhea Referee")
    page.get_by_label("Their work e-mail").fill("rhea@prospect.example")
    page.get_by_label("They agreed").check()
    go(page, page.get_by_role("button", name="Refer them"))
    assert page.get_by_role("heading", name="My referrals").is_visible()
    row = page.get_by_role("row").filter(has_text="Rhea Referee")
    assert row.get_by_text("submitted").is_visible()

    # Sales works the lead through the API; the follow-up jobs run as a worker would.
    lead = db.session.scalar(select(Lead).where(Lead.email == "rhea@prospect.example"))
    assert lead.owner_id == world["rep"].id
    rep = api(world["rep"])
    for path, body in (("attempts", {"channel": "call", "outcome": "connected"}),
                       ("accept", {}), ("opportunity", {"amount": "5000.00"}),
                       ("close", {"won": True, "amount": "5000.00"})):
        response = rep.post(f"/api/v1/leads/{lead.id}/{path}", json=body)
        assert response.status_code in (200, 201), (path, response.json)
    run_jobs(app)
    partner = db.session.scalar(select(User).where(User.email == "pat@partner.example"))
    assert db.session.scalar(select(Reward).where(Reward.referrer_id == partner.id,
                                                  Reward.side == "get")) is not None

    page.reload()
    row = page.get_by_role("row").filter(has_text="Rhea Referee")
    assert row.get_by_text("became a customer").is_visible()
    assert row.get_by_text("$100.00").is_visible()
    go(page, page.get_by_role("link", name="My rewards"))
    reward = page.get_by_role("row").filter(has_text="$100")
    assert "Rhea Referee" in reward.inner_text() and "for you," in reward.inner_text()
