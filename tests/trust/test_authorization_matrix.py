"""Every route of the URL map, every method, every persona: the expected answer, on real objects.

The matrix itself is in tests/trust/matrix.py. A route without an entry fails here, naming it.
"""
from urllib.parse import urlsplit

import pytest
from flask import url_for

from referral_app.extensions import limiter
from tests.conftest import sign_in
from tests.trust.matrix import LAST, MATRIX, PERSONAS
from tests.trust.world import PASSWORD, build_world

METHODS = ("GET", "POST", "PATCH")
IGNORED = {"static"}


def _rules(app):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint not in IGNORED]
    # Probes that sign out or hand leads over go last, in LAST's order.
    return sorted(rules, key=lambda r: (LAST.index(r.endpoint) + 1 if r.endpoint in LAST else 0,
                                        r.rule))


def _missing(app) -> list[str]:
    missing = []
    for rule in _rules(app):
        probed = {p.method for p in MATRIX.get(rule.endpoint, [])}
        for method in sorted(set(METHODS) & rule.methods - probed):
            missing.append(f"{method} {rule.rule} ({rule.endpoint})")
    return missing


def test_every_route_and_method_has_an_entry(app):
    missing = _missing(app)
    assert not missing, "routes without an entry in tests/trust/matrix.py MATRIX:\n  " + \
        "\n  ".join(missing)
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    stale = sorted(set(MATRIX) - endpoints)
    assert not stale, f"MATRIX entries for endpoints that no longer exist: {stale}"


@pytest.fixture
def world(app, db):
    limiter.enabled = app.config["RATELIMIT_ENABLED"]  # another test's app may have switched it on
    return build_world(app.instance_path, app.config["SECRET_KEY"])


def _url(app, rule, probe, world, **override) -> str:
    args = {name: world.ids.get(value, value) for name, value in probe.args.items()}
    with app.test_request_context():
        return url_for(rule.endpoint, **{**args, **override})


def _send(client, rule, url, method, body, token):
    """The response, or the exception the test app propagates where production answers 500."""
    kwargs = {"method": method, "buffered": True}  # streamed bodies are read inside the request
    if rule.rule.startswith("/api/v1/"):
        if method != "GET":
            kwargs["json"] = body if body is not None else {}
        if token:
            kwargs["headers"] = {"Authorization": f"Bearer {token}"}
    elif method != "GET":
        kwargs["data"] = body or {}
    try:
        return client.open(url, **kwargs)
    except Exception as exc:  # noqa: BLE001  (reported as the 500 it would be)
        return exc


def _status(response) -> str:
    if isinstance(response, Exception):
        return f"500 ({type(response).__name__}: {str(response).splitlines()[0][:100]})"
    where = response.headers.get("Location") if response.status_code in (301, 302, 303) else None
    return f"{response.status_code}{' → ' + where if where else ''}"


def outcome(response):
    """What a response means for authorization (see tests/trust/matrix.py)."""
    if isinstance(response, Exception):
        return 500
    status = response.status_code
    if status in (301, 302, 303, 307, 308):
        location = urlsplit(response.headers.get("Location", ""))
        if location.path == "/sign-in" and "next=" in location.query:
            return "login"
        return "ok"
    if status in (401, 403, 404, 405) or status >= 500:
        return status
    return "ok"  # 2xx, or 400/409/422 about the (deliberately minimal) input


def _matches(expected, got) -> bool:
    if expected == "any":  # the health probe answers 503 when no worker runs
        return got not in (500, "login", 401, 403, 404)
    return expected == got


@pytest.mark.parametrize("persona", PERSONAS)
def test_authorization_matrix(app, world, persona):
    client = app.test_client()
    if persona != "anonymous":
        sign_in(client, world.users[persona], PASSWORD)
    token = world.tokens.get(persona)
    failures = [f"no entry: {m}" for m in _missing(app)]
    probes = 0
    for rule in _rules(app):
        for probe in MATRIX.get(rule.endpoint, []):
            if probe.method not in rule.methods:
                failures.append(f"{rule.endpoint}: the matrix probes {probe.method}, "
                                f"the route allows {sorted(rule.methods)}")
                continue
            url = _url(app, rule, probe, world)
            response = _send(client, rule, url, probe.method, probe.body, token)
            probes += 1
            expected = probe.expect[persona]
            if not _matches(expected, outcome(response)):
                label = f" · {probe.label}" if probe.label else ""
                failures.append(f"{persona} {probe.method} {url} [{rule.endpoint}{label}]: "
                                f"expected {expected}, got {_status(response)}")
            if rule.rule.startswith("/api/v1/") and persona == "admin":
                # A session cookie is no API credential: only the Bearer token is.
                cookie_only = _send(client, rule, url, probe.method, probe.body, None)
                probes += 1
                if outcome(cookie_only) != 401:
                    failures.append(f"cookie-only {probe.method} {url}: expected 401, "
                                    f"got {_status(cookie_only)}")
    assert probes > 100
    assert not failures, f"{len(failures)} of {probes} probes failed:\n  " + "\n  ".join(failures)


def test_the_api_refuses_before_it_reads_the_body(app, world):
    """A caller who may not write gets 401/403/404 for an empty body too, never field errors."""
    client = app.test_client()
    failures, probes = {}, 0
    for rule in _rules(app):
        if not rule.rule.startswith("/api/v1/"):
            continue
        for probe in MATRIX.get(rule.endpoint, []):
            if probe.method == "GET" or not probe.body:
                continue
            url = _url(app, rule, probe, world)
            for persona, expected in probe.expect.items():
                if expected not in (401, 403, 404):
                    continue
                response = _send(client, rule, url, probe.method, {}, world.tokens.get(persona))
                probes += 1
                if outcome(response) != expected:
                    failures.setdefault(f"{probe.method} {rule.rule}", set()).add(
                        f"{persona} {_status(response)} (expected {expected})")
    assert probes > 50
    assert not failures, "field errors given to callers who may not write:\n  " + "\n  ".join(
        f"{route}: {', '.join(sorted(who))}" for route, who in sorted(failures.items()))


def test_ids_beyond_the_integer_column_are_not_a_server_error(app, world):
    """`<int:…>` accepts any size; PostgreSQL's integer columns do not: 404 (or a refusal)."""
    client = app.test_client()
    sign_in(client, world.users["admin"], PASSWORD)
    token = world.tokens["admin"]
    failures = []
    for rule in _rules(app):
        ints = [n for n, c in rule._converters.items() if type(c).__name__ == "IntegerConverter"]
        if not ints:
            continue
        probe = next(p for p in MATRIX.get(rule.endpoint, []) if p.method in rule.methods)
        url = _url(app, rule, probe, world, **{name: 2**31 for name in ints})
        response = _send(client, rule, url, probe.method, probe.body, token)
        if outcome(response) not in (401, 403, 404, "ok"):
            failures.append(f"{probe.method} {url}: {_status(response)}")
    assert not failures, "ids out of the column's range must be 404:\n  " + "\n  ".join(failures)
