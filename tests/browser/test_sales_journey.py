"""A sales rep works a referred lead from the queue to a won deal."""
import re

import pytest
from sqlalchemy import select

from referral_app.models import Lead
from referral_app.services import intake
from tests import factories as f
from tests.browser_fixtures import go, sign_in_as

pytestmark = pytest.mark.browser


def test_a_rep_works_a_lead_from_the_queue_to_won(page, db, make_user):
    page.set_default_timeout(10_000)
    f.agreement("Widget", f.calendar(name="sales-cal"))
    program = f.program(slug="sales-widget", name="Sales Widget")
    rep = make_user("sales", email="rita@sales.example", product="Widget", name="Rita Rep")
    referrer = make_user("referrer", kind="customer", name="Cora Customer")
    intake.submit(program, {"name": "Quinn Prospect", "email": "quinn@prospect.example",
                            "company": "Prospect Inc"},
                  source="portal", referrer_id=referrer.id, consent=True)
    db.session.commit()
    lead = db.session.scalar(select(Lead))
    assert lead.owner_id == rep.id

    sign_in_as(page, rep)
    assert page.get_by_role("heading", name="My queue").is_visible()
    row = page.get_by_role("row").filter(has_text="Quinn Prospect")
    countdown = row.locator(".countdown")
    assert countdown.is_visible()
    page.wait_for_function("document.querySelector('.countdown').dataset.loadedAt")  # it ticks
    assert re.search(r"\d+(d|h|m)", countdown.inner_text())
    assert row.get_by_text("first attempt").is_visible()

    go(page, row.get_by_role("link", name="Quinn Prospect"))
    assert page.get_by_role("heading", name="Quinn Prospect").is_visible()
    attempt = page.locator("#attempt")
    attempt.get_by_label("Channel").select_option("call")
    attempt.get_by_label("Outcome").select_option("connected")
    attempt.get_by_label("Note").fill("Interested; wants a demo.")
    go(page, attempt.get_by_role("button", name="Log attempt"))
    assert page.get_by_text("Attempt logged.").is_visible()

    go(page, page.locator("#decide").get_by_role("button", name="Accept lead"))
    assert page.get_by_text("Lead accepted").is_visible()

    opportunity = page.locator("#opportunity")
    opportunity.get_by_label("Amount").fill("12000.00")
    go(page, opportunity.get_by_role("button", name="Open opportunity"))
    assert page.get_by_text("Opportunity opened.").is_visible()

    close = page.locator("#close")
    close.get_by_label("Amount").first.fill("12500.00")
    go(page, close.get_by_role("button", name="Close won"))
    assert page.get_by_text("Closed won. Congratulations!").is_visible()
    db.session.refresh(lead)
    assert lead.stage == "won" and lead.amount == 12500 and not lead.is_open
    assert [a.outcome for a in lead.attempts] == ["connected"]
