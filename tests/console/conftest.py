"""Fixtures of the marketing console tests: people by role, signed-in clients, a valid program body."""
import pytest

from tests.conftest import sign_in


@pytest.fixture
def marketer(make_user):
    return make_user("marketing", name="Maya Marketing")


@pytest.fixture
def manager(make_user):
    return make_user("sales_manager", name="Sam Manager")


@pytest.fixture
def referrer(make_user):
    return make_user("referrer", kind="customer", name="Carla Customer")


@pytest.fixture
def web(app):
    """web(user) -> a test client signed in as that user through the real form."""

    def signed_in(user):
        return sign_in(app.test_client(), user)

    return signed_in


def program_body(**overrides) -> dict:
    """A complete, valid POST /programs body (the contract's fields)."""
    body = {
        "name": "Friends of CRM", "slug": "crm-friends", "product": "Interlock CRM",
        "referrer_kinds": ["customer"],
        "share_message": "Hi, {referrer_first_name} here: get {offer} at {link}",
        "landing_headline": "You are invited", "attribution_window_days": 90,
        "rewards": [
            {"side": "give", "trigger": "submitted", "kind": "percent", "amount": "20",
             "currency": "USD"},
            {"side": "get", "trigger": "won", "kind": "fixed", "amount": "100.00",
             "currency": "USD", "cap_per_referrer": 5},
        ],
    }
    body.update(overrides)
    return body
