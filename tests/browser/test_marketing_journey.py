"""Marketing creates a give-get program with its preview, approves a held reward, reads the pack."""
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from referral_app.models import Program, Reward
from tests import factories as f
from tests.browser_fixtures import go, sign_in_as

pytestmark = pytest.mark.browser


@pytest.fixture
def held_reward(db, make_user):
    """A program with this quarter's leads, and a referrer reward held for a fraud review."""
    f.agreement("Widget", f.calendar(name="marketing-cal"))
    program = f.program(slug="held-widget", name="Held Widget",
                        rules=[("get", "submitted", "fixed", 50)])
    referrer = make_user("referrer", kind="customer", email="cora@customer.example")
    rep = make_user("sales", product="Widget")
    now = datetime.now(UTC)
    leads = [f.lead(program, referrer, rep, stage=stage, received_at=now)
             for stage in ("new", "mql", "sql", "won")]
    reward = Reward(rule_id=program.rules[0].id, referral_id=leads[0].referral_id,
                    program_id=program.id, referrer_id=referrer.id, side="get",
                    trigger="submitted", status="held", kind="fixed", amount=Decimal("50.00"),
                    currency="USD", hold_reasons=["disposable_email"], created_at=now)
    db.session.add(reward)
    db.session.commit()
    return reward


def test_marketing_builds_a_program_approves_a_reward_and_opens_the_pack(
        page, db, make_user, held_reward):
    page.set_default_timeout(10_000)
    sign_in_as(page, make_user("marketing"))
    page.goto("/programs/new")
    page.locator("#name").fill("Spring Widget")  # labels carry a "required" mark
    page.locator("#slug").fill("spring-widget")
    page.locator("#product").fill("Widget")
    page.get_by_label("Share message").fill("{referrer_first_name} says: get {offer} at {link}")
    page.get_by_label("Landing headline").fill("Spring into Widget")
    page.get_by_label("What the friend is given (offer text)").fill("20% off")
    rows = page.locator("#rule-rows .rule-row")
    rows.nth(0).get_by_label("Who").select_option("give")
    rows.nth(0).get_by_label("Kind").select_option("percent")
    rows.nth(0).get_by_label("Amount").fill("20")
    rows.nth(0).get_by_label("When").select_option("submitted")
    page.get_by_role("button", name="Add a rule").click()
    rows.nth(1).get_by_label("Who").select_option("get")
    rows.nth(1).get_by_label("Kind").select_option("fixed")
    rows.nth(1).get_by_label("Amount").fill("100")
    rows.nth(1).get_by_label("When").select_option("won")
    preview = page.locator("#program-preview")
    preview.get_by_role("heading", name="Spring into Widget").wait_for()
    preview.get_by_text("20% off at").first.wait_for()  # the share message, as sent
    preview.get_by_text("you get $100 when they become a customer").first.wait_for()
    go(page, page.get_by_role("button", name="Create draft"))
    assert page.get_by_text("Spring Widget is saved as a draft").is_visible()
    program = db.session.scalar(select(Program).where(Program.slug == "spring-widget"))
    assert sorted((r.side, r.trigger, r.kind, r.amount) for r in program.rules) == [
        ("get", "won", "fixed", Decimal("100.00")), ("give", "submitted", "percent", Decimal("20.00"))]

    page.goto("/rewards/?status=held")
    row = page.locator(f"#reward-{held_reward.id}")
    assert "$50 to the referrer" in row.inner_text()
    assert page.get_by_text("Why it is held").is_visible()
    go(page, row.get_by_role("button", name="Approve"))
    assert page.get_by_text(f"Reward #{held_reward.id} approved.").is_visible()
    db.session.refresh(held_reward)
    assert held_reward.status == "approved"

    go(page, page.get_by_role("link", name="Interlock pack"))
    assert page.get_by_role("heading", name="Funnel and reward cost").is_visible()
    funnel = page.locator('canvas[data-chart="chart-funnel"]')
    funnel.wait_for()
    page.wait_for_function("document.querySelector('canvas[data-chart=\"chart-funnel\"]').chart")
    drawn = funnel.evaluate("""c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i]) return true;
        return false; }""")
    assert drawn, "the funnel chart's canvas is blank"

