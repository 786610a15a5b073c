"""ReferralIn's plain path (plain_referral) answers exactly what marshmallow loads, or nothing."""
import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_app.schemas.referrals import ReferralIn, SubmissionIn, plain_referral

SCHEMA = ReferralIn()


def marshmallow_load(data):
    """What marshmallow itself answers (the plain path bypassed): the data, or its errors."""
    try:
        return "ok", super(ReferralIn, SCHEMA).load(data)
    except ma.ValidationError as exc:
        return "error", exc.messages


# A valid body, then a few of its values replaced by others near or past a rule's edge:
# whitespace, blanks, case, lengths, wrong types, unknown keys.
edgy = st.sampled_from(["", " ", "  Ada Lovelace  ", "x" * 200, "x" * 201, "é", "\u00a0Zoë\t",
                        " ADA@Example.COM ", "ada@", "@x.io", "a b@c.de", "us", " de ", "XX",
                        "Us", "ß", "ada@xn--bcher-kva.example", " n " * 700])
wrong = st.one_of(st.booleans(), st.integers(-3, 10**8), st.floats(0, 5), st.just([]),
                  st.just({}))
anything = st.one_of(st.none(), st.text(max_size=12), edgy, wrong)
text = st.one_of(st.text(max_size=12), edgy)
REFEREE = {"name": st.one_of(text, anything),
           "email": st.one_of(st.emails().map(lambda e: f" {e.upper()}"), st.emails(), edgy,
                              anything),
           "company": st.one_of(text, anything), "title": st.one_of(text, anything),
           "country": st.one_of(st.sampled_from(["US", "gb", " de ", "Us", "XX", ""]), anything),
           "phone": st.sampled_from([None, "", "  ", "+1 212 555 0100", "12"]),
           "extra": anything}
TOP = {"program": st.one_of(st.sampled_from(["", "p" * 100, "p" * 101]), anything),
       "note": st.one_of(text, anything), "consent": anything,
       "company_size": st.one_of(st.integers(-2, 10**7 + 2), anything),
       "deal_value": st.sampled_from([None, "12.345", 5, "x"]), "unknown": anything}


@st.composite
def bodies(draw):
    referee = {"name": "Ada Lovelace", "email": "ada@example.com"}
    body = {"program": "widgets", "referee": referee, "consent": True}
    for key in draw(st.lists(st.sampled_from(sorted(REFEREE)), max_size=2, unique=True)):
        referee[key] = draw(REFEREE[key])
    for key in draw(st.lists(st.sampled_from(sorted(TOP)), max_size=1)):
        body[key] = draw(TOP[key])
    if draw(st.integers(0, 9)) == 9:
        del body[draw(st.sampled_from(["referee", "program", "consent"]))]
    return draw(anything) if draw(st.integers(0, 9)) == 9 else body


@settings(max_examples=1500, deadline=None)
@given(bodies())
def test_the_plain_path_agrees_with_marshmallow(data):
    plain = plain_referral(data)
    outcome, expected = marshmallow_load(data)
    if plain is not None:
        assert outcome == "ok" and plain == expected
        assert list(plain) == list(expected) and list(plain["referee"]) == \
            list(expected["referee"])


def test_a_typical_body_takes_the_plain_path_and_a_phone_does_not():
    body = {"program": "widgets", "consent": True, "note": "  warm intro ",
            "referee": {"name": " Ada ", "email": "ADA@Example.com", "country": "gb",
                        "company": "", "title": "CTO"}}
    assert plain_referral(body) == SCHEMA.load(body) == {
        "program": "widgets", "consent": True, "note": "warm intro", "company_size": None,
        "deal_value": None, "referee": {"name": "Ada", "email": "ada@example.com",
                                        "company": None, "phone": None, "title": "CTO",
                                        "country": "GB"}}
    with_phone = dict(body, referee=dict(body["referee"], phone="020 7946 0958"))
    assert plain_referral(with_phone) is None
    assert SCHEMA.load(with_phone)["referee"]["phone"] == "+442079460958"


@pytest.mark.parametrize("body, field", [
    ({"program": "widgets", "referee": {"name": "Ada", "email": "nope"}}, "referee"),
    ({"program": "", "referee": {"name": "Ada", "email": "a@b.co"}}, "program"),
    ({"program": "widgets", "referee": {"name": "Ada", "email": "a@b.co"}, "x": 1}, "x"),
])
def test_errors_are_marshmallows_own(body, field):
    assert plain_referral(body) is None
    with pytest.raises(ma.ValidationError) as raised:
        SCHEMA.load(body)
    assert field in raised.value.messages


def test_the_portal_and_landing_schema_is_untouched():
    assert SubmissionIn.load is ma.Schema.load
