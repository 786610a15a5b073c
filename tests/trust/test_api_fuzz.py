"""API fuzzing: schemathesis against /api/openapi.json, every operation, a caller of each role.

Requests go to the WSGI app in-process. Each operation gets a bounded number of generated
cases, valid and invalid, half of them aimed at real objects of the matrix world (so the
200 answers are checked too, not only 404s). Every answer must be below 500, documented,
match its schema, and a 4xx must carry the contract's error body.
"""
import contextvars
import os
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from referral_app.extensions import limiter
from tests.trust.world import build_world

ROLES = ("customer", "partner", "rep", "manager", "marketing", "admin")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))  # per operation and role
BUDGET_SECONDS = float(os.environ.get("FUZZ_SECONDS_PER_ROLE", "15"))  # spread over operations
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# URL arguments filled with real objects of the world half of the time.
KNOWN = {"lead_id": "lead_rep", "referral_id": "referral_customer", "reward_id": "reward_customer",
         "slug": "program_slug", "external_id": "purchase_external_id"}


def error_body_problem(response) -> str | None:
    """The contract: every 4xx is {"error": {"code", "message"[, "fields"]}}."""
    if not 400 <= response.status_code < 500:
        return None
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} without a JSON body: {response.text[:200]!r}"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), str) \
            or not isinstance(error.get("message"), str):
        return f"{response.status_code} body is not the contract's error: {str(body)[:300]}"
    extra = set(error) - {"code", "message", "fields"}
    if extra:
        return f"{response.status_code} error has unexpected keys {sorted(extra)}"
    if response.status_code == 422 and not isinstance(error.get("fields"), dict):
        return f"422 without `fields`: {str(body)[:300]}"
    return None


@pytest.fixture
def schema(app):
    loaded = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 25, "the OpenAPI document lost operations"
    return operations


def _strategy(operation, world):
    path = {name: world.ids[key] for name, key in KNOWN.items()
            if name in {p.name for p in operation.path_parameters}}
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    strategies = [operation.as_strategy(mode) for mode in modes]
    if path:
        strategies += [operation.as_strategy(mode, path_parameters=path) for mode in modes]
    return st.one_of(strategies)


def _fuzz(operation, world, token, deadline) -> str | None:
    headers = {"Authorization": f"Bearer {token}"}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
              phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
              suppress_health_check=list(HealthCheck))
    @given(case=_strategy(operation, world))
    def run(case):
        if time.monotonic() > deadline:
            return  # the time budget is spent: the remaining examples pass through
        # In a fresh context, as in production: Flask then gives the request its own app
        # context and database session instead of sharing the test's.
        response = contextvars.Context().run(case.call, headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)
        problem = error_body_problem(response)
        assert problem is None, f"{case.method} {case.formatted_path}: {problem}"

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # every failure is reported; the loop goes on
        return str(exc)[:1500]
    return None


@pytest.mark.parametrize("role", ROLES)
def test_fuzz_every_operation(app, db, schema, role):
    limiter.enabled = app.config["RATELIMIT_ENABLED"]
    world = build_world(app.instance_path, app.config["SECRET_KEY"])
    end = time.monotonic() + BUDGET_SECONDS
    failures = {}
    for done, operation in enumerate(schema):
        # A fair share of what is left, so a slow operation cannot starve the later ones.
        share = max(end - time.monotonic(), 0) / (len(schema) - done)
        deadline = time.monotonic() + max(share, 0.5)
        problem = _fuzz(operation, world, world.tokens[role], deadline)
        if problem:
            failures[operation.label] = problem
    assert not failures, f"{role}: {len(failures)} operations failed\n\n" + "\n\n".join(
        f"== {label}\n{problem}" for label, problem in failures.items())


def test_without_a_token_every_operation_is_401_with_the_error_body(app, db, schema):
    for operation in schema:
        path = operation.path.replace("{", "").replace("}", "")  # any value: refused before
        response = app.test_client().open(path, method=operation.method.upper(), json={})
        assert response.status_code == 401, operation.label
        assert error_body_problem(_Json(response)) is None, operation.label


class _Json:
    """A Flask test response seen through the requests-like interface error_body_problem reads."""

    def __init__(self, response):
        self.status_code, self.text = response.status_code, response.get_data(as_text=True)
        self._json = response.get_json(silent=True)

    def json(self):
        if self._json is None:
            raise ValueError("not JSON")
        return self._json
