"""Marketing console, in Chromium: the program editor's live preview follows typing; adding a rule row works."""
import pytest

from tests.browser_fixtures import sign_in_as

pytestmark = pytest.mark.browser


def test_live_preview_and_rule_rows(page, make_user):
    user = make_user("marketing")
    sign_in_as(page, user)  # waits for the redirect to load before going on
    page.goto("/programs/new")
    preview = page.locator("#program-preview")
    page.get_by_label("Landing headline").fill("Meet <b>Widget</b>")
    page.get_by_label("What the friend is given (offer text)").fill("30% off")
    page.get_by_label("Share message").fill("{referrer_first_name}: get {offer} at {link}")
    preview.get_by_text("Alex: get 30% off at").wait_for()
    assert preview.get_by_role("heading", name="Meet <b>Widget</b>").is_visible()  # escaped
    page.get_by_label("Share message").fill("Hi {nobody}")
    preview.get_by_text("Unknown placeholder {nobody}").wait_for()

    rows = page.locator("#rule-rows .rule-row")
    assert rows.count() == 1
    page.get_by_role("button", name="Add a rule").click()
    assert rows.count() == 2
    second = rows.nth(1)
    assert second.locator("select").first.get_attribute("name") == "rewards-1-side"
    rows.nth(0).get_by_label("Who").select_option("give")
    rows.nth(0).get_by_label("Kind").select_option("percent")
    rows.nth(0).get_by_label("Amount").fill("30")
    second.get_by_label("Amount").fill("100")
    second.get_by_label("When").select_option("won")
    preview.get_by_text("Your friend gets 30% off; you get $100 when they become a customer.") \
        .wait_for()
    page.wait_for_load_state("networkidle")  # no preview request left in flight at teardown
