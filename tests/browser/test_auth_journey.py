"""A person signs up as a partner, lands on their home page and signs out again."""
import pytest

pytestmark = pytest.mark.browser


def test_sign_up_as_partner_and_sign_out(page, db):
    page.goto("/")
    page.get_by_text("Join as a referrer").first.click()
    page.get_by_label("Your name").fill("Pat Partner")
    page.get_by_label("Work e-mail").fill("pat@partner.example")
    page.get_by_label("Company").fill("Partner Co")
    page.get_by_label("Partner").check()
    page.get_by_label("Password").fill("a long password")
    page.get_by_role("button", name="Create my account").click()
    assert page.get_by_text("Your account is ready").is_visible()
    page.get_by_role("button", name="Sign out").click()
    assert page.get_by_role("heading", name="Sign in").is_visible()


def test_wrong_password_shows_a_message_beside_the_field(page, make_user):
    user = make_user("marketing")
    page.goto("/sign-in")
    page.get_by_label("E-mail").fill(user.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_text("do not match").is_visible()
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"
