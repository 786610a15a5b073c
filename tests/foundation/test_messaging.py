"""Share-message templates: unknown placeholders are errors; rendering fills the rest."""
import pytest

from referral_app.errors import ValidationFailed
from referral_app.services.messaging import render, validate_template


def test_unknown_placeholder_is_an_error_naming_it():
    with pytest.raises(ValidationFailed) as exc:
        validate_template("Hi {referer_first_name}, see {link}")
    assert "referer_first_name" in exc.value.fields["share_message"][0]


def test_broken_brace_is_an_error():
    with pytest.raises(ValidationFailed):
        validate_template("Hi {link")


def test_render_fills_every_placeholder():
    validate_template("{referrer_first_name} says: get {offer} at {link} ({code}) for {product}")
    text = render("{referrer_first_name} says: get {offer} at {link} ({code}) for {product}",
                  referrer_name="Carla Customer", offer="20% off", link="https://x/r/AB",
                  code="AB", program="P", product="CRM")
    assert text == "Carla says: get 20% off at https://x/r/AB (AB) for CRM"
