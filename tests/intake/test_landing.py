"""The referee landing /r/<code>: offer, form, counts, friendly refusals, limits, escaping."""
import pytest
from sqlalchemy import func, select

from referral_app.extensions import limiter
from referral_app.models import Referral, ReferralCode, RefusedReferral
from referral_app.services import codes
from tests import factories as f
from tests.conftest import make_app
from tests.intake.conftest import referee

XSS = "<script>alert(1)</script>"


@pytest.fixture
def code(world, db) -> ReferralCode:
    world.program.landing_body = "**Twenty percent** off.\n\n<script>alert(2)</script>"
    row = codes.code_for(world.referrer.id, world.program.id)
    db.session.commit()
    return row


def counters(db, code) -> tuple[int, int]:
    db.session.refresh(code)
    return code.visits, code.submissions


def landing_form(n=1, **over):
    values = {**referee(n), "consent": "y"}
    values.update(over)
    return values


def test_the_landing_shows_the_offer_and_counts_visits(code, db, client):
    page = client.get(f"/r/{code.code}")
    html = page.data.decode()
    assert page.status_code == 200
    assert "You are invited" in html and "20% off" in html and "Carla invited you" in html
    assert "<strong>Twenty percent</strong>" in html and "<script>alert(2)" not in html
    # The referee's page keeps them on the offer: none of the platform's own navigation.
    assert "Join as a referrer" not in html and "Sign in" not in html
    client.get(f"/r/{code.code.lower()}")
    assert counters(db, code) == (2, 0)


def test_a_referee_leaves_their_details(code, world, db, client):
    response = client.post(f"/r/{code.code}", data=landing_form(),
                           environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/thanks")
    thanks = client.get(response.headers["Location"]).data.decode()
    assert "Thank you" in thanks and "Join as a referrer" not in thanks
    referral = db.session.scalar(select(Referral))
    assert (referral.source, referral.referrer_id, referral.code_id) == \
        ("landing", world.referrer.id, code.id)
    assert referral.ip == "198.51.100.4" and len(referral.fingerprint) == 64
    assert referral.lead.owner_id is not None
    assert counters(db, code) == (0, 1)


def test_a_known_person_is_told_kindly(code, world, db, client):
    f.lead(world.program, email="rhea1@prospect.example")
    db.session.commit()
    response = client.post(f"/r/{code.code}", data=landing_form())
    assert response.status_code == 200
    assert "already in touch with us" in response.data.decode()
    assert db.session.scalar(select(RefusedReferral.reason)) == "duplicate"
    assert counters(db, code) == (0, 0)


def test_invalid_details_and_missing_consent_show_beside_the_fields(code, db, client):
    response = client.post(f"/r/{code.code}",
                           data=landing_form(email="nope", name=XSS, consent=""))
    html = response.data.decode()
    assert response.status_code == 422
    assert 'id="email-error">Enter a valid e-mail address.' in html
    assert 'id="consent-error">' in html
    assert XSS not in html and "&lt;script&gt;alert(1)" in html
    assert db.session.scalar(select(func.count(Referral.id))) == 0


def test_consent_alone_missing_is_a_recorded_refusal(code, db, client):
    response = client.post(f"/r/{code.code}", data=landing_form(consent=""))
    assert response.status_code == 422 and 'id="consent-error">' in response.data.decode()
    assert db.session.scalar(select(RefusedReferral.reason)) == "consent_required"


def test_unknown_code_is_a_friendly_404(db, client):
    response = client.get("/r/NOSUCHCODE")
    assert response.status_code == 404
    html = response.data.decode()
    assert "invitation link isn" in html and "Traceback" not in html
    assert client.post("/r/NOSUCHCODE", data=landing_form()).status_code == 404


@pytest.mark.parametrize("status", ["paused", "archived", "draft"])
def test_a_closed_program_shows_a_friendly_page(code, world, db, client, status):
    world.program.status = status
    db.session.commit()
    for response in (client.get(f"/r/{code.code}"),
                     client.post(f"/r/{code.code}", data=landing_form())):
        assert response.status_code == 200
        assert "This offer isn't available right now" in response.data.decode()
    assert counters(db, code) == (0, 0)
    assert db.session.scalar(select(func.count(Referral.id))) == 0


def test_program_copy_is_escaped_on_the_landing(code, world, db, client):
    world.program.landing_headline = f"Hello {XSS}"
    world.program.give_offer = f"Offer {XSS}"
    world.referrer.name = f"Mallory {XSS}"
    db.session.commit()
    html = client.get(f"/r/{code.code}").data.decode()
    assert XSS not in html and "Hello &lt;script&gt;" in html


def test_an_oversized_form_is_413(code, db, client):
    response = client.post(f"/r/{code.code}", data=landing_form(name="x" * (80 * 1024)))
    assert response.status_code == 413


def test_the_landing_is_rate_limited(code, db):
    was_enabled = limiter.enabled
    # The limiter is one object shared by every app of this process: enabling it for this
    # app enables it for all, so put it back afterwards.
    # make_app's client commits the test's session first: on SQLite an open read would
    # hold the lock the landing's write waits for.
    limited = make_app(RATELIMIT_ENABLED=True)
    try:
        client = limited.test_client()
        statuses = [client.get(f"/r/{code.code}").status_code for _ in range(31)]
        assert 429 not in statuses[:30] and statuses[30] == 429
        posts = [client.post(f"/r/{code.code}", data={}).status_code for _ in range(11)]
        assert 429 not in posts[:10] and posts[10] == 429
    finally:
        limiter.reset()
        limiter.enabled = was_enabled
