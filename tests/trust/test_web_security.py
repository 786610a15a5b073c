"""Web security: CSRF on every state-changing form, rate limits with Retry-After, cookies."""
import pytest
from werkzeug.routing import BuildError

from tests.conftest import make_app

# Routes that are not cookie-authenticated forms: the Bearer-only API and the health probe.
NOT_FORMS = ("/api/", "/healthz")


_app = make_app


def _sample(rule, name):
    """A value the URL converter accepts: the first choice of an `any(...)`, else 1."""
    converter = rule._converters.get(name)
    items = getattr(converter, "items", None)
    if items:
        return sorted(items)[0]
    return "x" if type(converter).__name__ in ("UnicodeConverter", "PathConverter") else 1


def _post_urls(application):
    for rule in application.url_map.iter_rules():
        if "POST" not in rule.methods or rule.rule.startswith(NOT_FORMS):
            continue
        args = {name: _sample(rule, name) for name in rule.arguments}
        try:
            with application.test_request_context():
                from flask import url_for

                yield url_for(rule.endpoint, **args)
        except BuildError:
            continue


def test_every_form_post_without_the_token_is_refused(app, db, make_user):
    secured = _app(WTF_CSRF_ENABLED=True)
    client = secured.test_client()
    urls = list(_post_urls(secured))
    assert "/sign-in" in urls and len(urls) >= 5
    for url in urls:
        response = client.post(url, data={"anything": "x"})
        assert response.status_code == 400, url
        assert b"form expired" in response.data or b"expired" in response.data, url


def test_a_form_with_the_token_is_accepted(app, db, make_user):
    secured = _app(WTF_CSRF_ENABLED=True)
    client = secured.test_client()
    user = make_user("marketing")
    page = client.get("/sign-in").data.decode()
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/sign-in", data={"email": user.email, "password": "correct horse",
                                             "csrf_token": token})
    assert response.status_code == 302


@pytest.fixture
def limits_on():
    """An app with rate limits on; the shared Limiter is switched off again afterwards."""
    from referral_app.extensions import limiter

    limited = _app(RATELIMIT_ENABLED=True)
    limiter.reset()  # counts left by an earlier test in the window would come back as 429s
    yield limited
    limiter.reset()
    limiter.enabled = False


@pytest.mark.parametrize("path, limit", [("/sign-in", 10), ("/sign-up", 5)])
def test_public_forms_are_rate_limited_with_retry_after(app, db, path, limit, limits_on):
    limited = limits_on
    client = limited.test_client()
    statuses = [client.post(path, data={"email": "x@example.com", "password": "nope"}).status_code
                for _ in range(limit + 1)]
    assert 429 not in statuses[:limit] and statuses[limit] == 429, statuses
    response = client.post(path, data={})
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert b"Slow down" in response.data


def test_production_cookies_are_secure(monkeypatch):
    monkeypatch.setenv("INTERLOCK_ENV", "production")
    from referral_app.config import from_environment

    values = from_environment()
    assert values["SESSION_COOKIE_SECURE"] and values["SESSION_COOKIE_HTTPONLY"]
    assert values["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_session_cookie_flags_on_sign_in(client, make_user):
    user = make_user("marketing")
    response = client.post("/sign-in", data={"email": user.email, "password": "correct horse"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
