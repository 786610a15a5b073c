"""The queue from the keyboard in a real browser: j/k move, Enter opens, countdowns tick."""
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from referral_app.extensions import db

pytestmark = pytest.mark.browser


def test_keyboard_through_the_queue_and_a_ticking_countdown(page, world):  # noqa: F811
    # A one-hour wall-clock SLA from now: the countdown shows seconds, so it visibly ticks.
    world.agreement.first_attempt_clock = "calendar"
    world.agreement.first_attempt_hours = Decimal(1)
    db.session.commit()
    now = datetime.now(UTC)
    first = world.lead(at=now, name="First Fay")
    second = world.lead(at=now, name="Second Sid")
    page.goto("/sign-in")
    page.get_by_label("E-mail").fill(world.rep.email)
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/queue/")  # a rep's home is their queue
    page.wait_for_load_state("load")
    before = page.locator(".countdown").first.text_content()
    assert before.endswith("s")
    page.wait_for_function(
        "t => document.querySelector('.countdown').textContent !== t", arg=before)
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.locator("tr.selected").get_attribute("data-href") == f"/queue/leads/{second.id}"
    page.keyboard.press("k")
    assert page.locator("tr.selected").get_attribute("data-href") == f"/queue/leads/{first.id}"
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/queue/leads/{first.id}")
    page.wait_for_load_state("load")
    assert page.get_by_role("heading", name="First Fay").is_visible()
    page.get_by_label("Outcome").select_option("voicemail")
    page.get_by_role("button", name="Log attempt").click()
    page.wait_for_load_state("load")
    assert page.get_by_text("Attempt logged.").is_visible()
    assert page.get_by_text("call: voicemail").is_visible()
