"""Every route of the URL map, every method, every persona: the expected answer, on real objects.

The matrix itself is in tests/trust/matrix.py. A route without an entry fails here, naming it.
"""
from urllib.parse import urlsplit

import pytest
from flask import url_for

from referral_app.extensions import limiter
from tests.conftest import sign_in
from tests.trust.matrix import LAST, MATRIX, PASSWORD, PERSONAS, build_world

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


def outcome(response):
    """What a response means for authorization (see tests/trust/matrix.py)."""
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
    if expected == "any":
        return got not in (500, "login", 401, 403)
    return expected == got


@pytest.fixture
def world(app, db):
    limiter.enabled = app.config["RATELIMIT_ENABLED"]  # another test's app may have switched it on
    return build_world(app.instance_path, app.config["SECRET_KEY"])


@pytest.mark.parametrize("persona", PERSONAS)
def test_authorization_matrix(app, world, persona):
    client = app.test_client()
    if persona != "anonymous":
        sign_in(client, world.users[persona], PASSWORD)
    token = world.tokens.get(persona)
    failures = [f"no entry: {m}" for m in _missing(app)]
    probes = 0
    for rule in _rules(app):
        is_api = rule.rule.startswith("/api/v1/")
        for probe in MATRIX.get(rule.endpoint, []):
            if probe.method not in rule.methods:
                failures.append(f"{rule.endpoint}: the matrix probes {probe.method}, "
                                f"the route allows {sorted(rule.methods)}")
                continue
            args = {k: world.ids.get(v, v) if isinstance(v, str) else v
                    for k, v in probe.args.items()}
            with app.test_request_context():
                url = url_for(rule.endpoint, **args)
            kwargs = {"method": probe.method, "buffered": True}  # streamed bodies read in-request
            if is_api:
                if probe.method != "GET":
                    kwargs["json"] = probe.body if probe.body is not None else {}
                if token:
                    kwargs["headers"] = {"Authorization": f"Bearer {token}"}
            elif probe.method != "GET":
                kwargs["data"] = probe.body or {}
            response = client.open(url, **kwargs)
            probes += 1
            got, expected = outcome(response), probe.expect[persona]
            if not _matches(expected, got):
                failures.append(f"{persona} {probe.method} {url} [{rule.endpoint}"
                                f"{' · ' + probe.label if probe.label else ''}]: "
                                f"expected {expected}, got {response.status_code}"
                                f"{' → ' + response.headers['Location'] if got == 'ok' and response.status_code in (301, 302, 303) else ''}")
            if is_api and persona == "admin":
                # A session cookie is no API credential: only the Bearer token is.
                bare = {k: v for k, v in kwargs.items() if k != "headers"}
                cookie_only = client.open(url, **bare)
                probes += 1
                if cookie_only.status_code != 401:
                    failures.append(f"cookie-only {probe.method} {url}: expected 401, "
                                    f"got {cookie_only.status_code}")
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
            args = {k: world.ids.get(v, v) for k, v in probe.args.items()}
            with app.test_request_context():
                url = url_for(rule.endpoint, **args)
            for persona, expected in probe.expect.items():
                if expected not in (401, 403, 404):
                    continue
                token = world.tokens.get(persona)
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = client.open(url, method=probe.method, json={}, headers=headers)
                probes += 1
                if outcome(response) != expected:
                    failures.setdefault(f"{probe.method} {rule.rule}", set()).add(
                        f"{persona} {response.status_code} (expected {expected})")
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
        args = {k: world.ids.get(v, v) for k, v in probe.args.items()}
        args.update({name: 2**31 for name in ints})
        with app.test_request_context():
            url = url_for(rule.endpoint, **args)
        headers = {"Authorization": f"Bearer {token}"} if rule.rule.startswith("/api/") else {}
        try:
            status = client.open(url, method=probe.method, headers=headers, buffered=True,
                                 **({"json": probe.body or {}} if headers else {})).status_code
        except Exception as exc:  # the test app propagates what production answers with 500
            status = f"500 ({exc.__class__.__name__})"
        if not isinstance(status, int) or status >= 500:
            failures.append(f"{probe.method} {url}: {status}")
    assert not failures, "ids out of the column's range must be 404:\n  " + "\n  ".join(failures)
