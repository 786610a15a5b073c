"""The queue from the keyboard in a real browser: j/k move, Enter opens, countdowns tick."""
import pytest

from tests.browser.conftest import browser, live_server, page  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def test_keyboard_through_the_queue_and_a_ticking_countdown(page, world):  # noqa: F811
    first = world.lead(name="First Fay")
    second = world.lead(name="Second Sid")
    page.goto("/sign-in")
    page.get_by_label("E-mail").fill(world.rep.email)
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Sign in").click()
    page.goto("/queue/")
    countdown = page.locator(".countdown").first
    before = countdown.text_content()
    page.wait_for_function(
        "t => document.querySelector('.countdown').textContent !== t", arg=before)
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.locator("tr.selected").get_attribute("data-href") == f"/queue/leads/{second.id}"
    page.keyboard.press("k")
    assert page.locator("tr.selected").get_attribute("data-href") == f"/queue/leads/{first.id}"
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/queue/leads/{first.id}")
    assert page.get_by_role("heading", name="First Fay").is_visible()
    page.get_by_label("Outcome").select_option("voicemail")
    page.get_by_role("button", name="Log attempt").click()
    assert page.get_by_text("Attempt logged.").is_visible()
    assert page.get_by_text("call: voicemail").is_visible()
