"""The app factory honours its configuration and the environment."""
import gc
import importlib
import os
import subprocess
import sys

import pytest

from referral_app import config as settings
from referral_app.app import create_app


def test_environment_is_honoured(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db.example:5432/prod")
    monkeypatch.setenv("REDIS_URL", "redis://cache.example:6379/2")
    monkeypatch.setenv("PORT", "8123")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example:5432/prod"
    assert app.config["REDIS_URL"] == "redis://cache.example:6379/2"
    assert app.config["PORT"] == 8123
    assert app.instance_path == str(tmp_path)


def test_postgres_pool_holds_a_web_workers_threads(monkeypatch, tmp_path):
    """Past its pool SQLAlchemy opens overflow connections and closes them on return: with
    16 threads and the default pool of 5, every request under load opened a connection."""
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db.example:5432/prod")
    monkeypatch.delenv("DB_POOL_SIZE", raising=False)
    from referral_app.extensions import db

    app = create_app()
    with app.app_context():
        assert db.engine.pool.size() == 20  # docs/deploy.md's 16 threads, the writer, spare
        assert db.engine.pool._max_overflow == 10
        # Pinged at checkout only after sitting idle (referral_app/pool_ping.py).
        assert not db.engine.pool._pre_ping
        assert [fn.__name__ for fn in db.engine.pool.dispatch.checkout] == ["_ping_if_idle"]
    monkeypatch.setenv("DB_POOL_SIZE", "33")
    app = create_app()
    with app.app_context():
        assert db.engine.pool.size() == 33


def test_defaults_are_embedded(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PORT"):
        monkeypatch.delenv(name, raising=False)
    values = settings.from_environment()
    assert values["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'interlock.db'}"
    assert values["REDIS_URL"] is None
    assert values["PORT"] == 5000


def test_secret_key_is_generated_once_and_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = settings.from_environment()["SECRET_KEY"]
    second = settings.from_environment()["SECRET_KEY"]
    assert len(first) >= 40 and first == second
    assert (tmp_path / "secret_key").read_text().strip() == first
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert settings.from_environment()["SECRET_KEY"] == "from-env"


def test_explicit_config_overrides_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    app = create_app({"PORT": 9999, "TESTING": True})
    assert app.config["PORT"] == 9999 and app.testing


def test_wsgi_module_holds_only_the_app_and_freezes_what_it_built(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    gc.unfreeze()
    try:
        module = importlib.reload(importlib.import_module("wsgi"))
        # The process's long-lived objects are out of the cyclic collector's sight.
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()  # this test process goes on collecting as before
    public = [n for n in vars(module) if not n.startswith("_")]
    assert sorted(public) == ["app", "create_app"]


def test_wsgi_module_configures_the_mappers_before_any_request(tmp_path):
    """A fresh process (this one's mappers are long configured): importing wsgi leaves no
    mapper for the first request's first query to configure."""
    probe = ("import wsgi\n"
             "from referral_app.extensions import db\n"
             "mappers = list(db.Model.registry.mappers)\n"
             "print(len(mappers), all(m.configured for m in mappers))\n")
    env = dict(os.environ, INSTANCE_PATH=str(tmp_path), DATABASE_URL="sqlite://")
    out = subprocess.run([sys.executable, "-c", probe], env=env, cwd=settings.PROJECT_ROOT, capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    assert int(out[0]) > 20 and out[1] == "True"


def test_security_headers_and_cookie_flags(client):
    response = client.get("/sign-in")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert client.application.config["SESSION_COOKIE_HTTPONLY"] is True
    assert client.application.config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_unknown_page_is_house_style_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"couldn't find that page" in response.data
    assert b"the link may be old or mistyped" in response.data
    assert b"requested URL was not found" not in response.data  # werkzeug's stock sentence


def test_another_roles_page_says_so_in_plain_words(client, make_user):
    from tests.conftest import sign_in

    sign_in(client, make_user("referrer"))
    response = client.get("/admin/users")
    assert response.status_code == 403
    assert b"belongs to another role" in response.data
    assert b"read-protected" not in response.data


def test_unknown_api_path_is_contract_json(client):
    response = client.get("/api/v1/nothing-here", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthenticated"


@pytest.fixture
def asked(monkeypatch) -> list:
    """What Flask's ensure_sync asked inspect about, in order."""
    import inspect

    import flask.app

    calls = []
    monkeypatch.setattr(flask.app, "iscoroutinefunction",
                        lambda f: calls.append(f) or inspect.iscoroutinefunction(f))
    return calls


def test_sync_check_is_made_once_per_function_and_forgets_dead_ones(app, asked):
    """ensure_sync answers a synchronous function with itself, asking inspect only the
    first time, and keeps no closure alive (after_this_request makes one per request)."""
    def view():
        return "ok"

    assert app.ensure_sync(view) is view
    assert app.ensure_sync(view) is view
    assert asked == [view]

    def closure():
        return view

    assert app.ensure_sync(closure) is closure
    assert closure in app._synchronous
    asked.clear()
    del closure
    gc.collect()
    assert len([f for f in app._synchronous if f.__name__ == "closure"]) == 0


def test_a_bound_method_is_remembered_by_its_function(app, asked):
    """Extensions register bound methods as hooks: a new object at every access, checked
    once for all of them."""
    class Extension:
        def hook(self, response):
            return response

        async def later(self):
            return None

    extension = Extension()
    assert app.ensure_sync(extension.hook) == extension.hook
    assert app.ensure_sync(extension.hook) == extension.hook
    assert len(asked) == 1 and Extension.hook in app._synchronous
    try:
        wrapped = app.ensure_sync(extension.later)
    except RuntimeError as exc:  # Flask without its async extra says so, as before
        assert "async" in str(exc)
    else:
        assert wrapped != extension.later
    assert Extension.later not in app._synchronous


def test_a_coroutine_view_is_still_wrapped(app):
    async def view():
        return "ok"

    try:
        wrapped = app.ensure_sync(view)
    except RuntimeError as exc:  # Flask without its async extra says so, as before
        assert "async" in str(exc)
    else:
        assert wrapped is not view and app.ensure_sync(view) is not view
    assert view not in app._synchronous


def test_a_views_own_security_header_wins_and_the_rest_are_added(monkeypatch, tmp_path):
    from flask import make_response

    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    app = create_app({"SECRET_KEY": "x" * 32, "TESTING": True})

    @app.get("/_framed")
    def framed():
        response = make_response("ok")
        response.headers["x-frame-options"] = "SAMEORIGIN"
        return response

    response = app.test_client().get("/_framed")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response.headers  # not in production


def test_production_adds_hsts(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    app = create_app({"PRODUCTION": True, "SECRET_KEY": "x" * 32, "TESTING": True})
    response = app.test_client().get("/sign-in")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
