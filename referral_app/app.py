"""The application factory: named steps, and the one place that imports blueprints."""
import importlib
import inspect
import logging
import pkgutil
import weakref

from flask import Flask
from werkzeug.routing import IntegerConverter

from referral_app import config as settings
from referral_app import pool_ping
from referral_app.extensions import csrf, db, limiter, login_manager, migrate

WEB_BLUEPRINTS = ("auth", "health", "privacy", "portal", "intake", "rewards", "queue", "programs", "reports", "admin")


class Interlock(Flask):
    """Flask, asking once per view or hook whether it is a coroutine function.

    flask-smorest wraps a view in one layer per documented response, and each layer calls
    ensure_sync on every request: inspect.iscoroutinefunction 19 times for each
    POST /api/v1/referrals, ~6 % of a web worker's CPU on it (bench, session 12). A plain
    function (or a bound method's function) found synchronous is remembered while it lives
    (a WeakSet: the closures that `after_this_request` makes per request are not kept).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._synchronous: weakref.WeakSet = weakref.WeakSet()

    def ensure_sync(self, func):
        # A bound method (Flask-Login's after_request hook) is a new object at each access:
        # it is remembered by its function, which is synchronous exactly when it is.
        plain = getattr(func, "__func__", func)
        try:
            if plain in self._synchronous:
                return func
        except TypeError:  # not weakly referenceable: never remembered
            return super().ensure_sync(func)
        wrapped = super().ensure_sync(func)
        if wrapped is func and inspect.isfunction(plain):
            self._synchronous.add(plain)
        return wrapped


def create_app(config: dict | None = None) -> Flask:
    """Build the app; `config` overrides what the environment says (tests use it)."""
    values = settings.from_environment()
    values.update(config or {})
    app = Interlock(
        __name__,
        instance_path=values["INSTANCE_PATH"],
        static_folder=str(settings.PROJECT_ROOT / "static"),
        template_folder=str(settings.PROJECT_ROOT / "blueprints" / "templates"),
    )
    app.config.update(values)
    configure_logging(app)
    init_extensions(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_cli(app)
    return app


def configure_logging(app: Flask) -> None:
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def init_extensions(app: Flask) -> None:
    from referral_app import models  # noqa: F401  (registers every table on the metadata)
    from referral_app.jobs import queues  # noqa: F401  (installs enqueue-after-commit)

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        # Wait for a writer instead of failing: web, worker and cron share one file.
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 30}})
    else:
        # LIFO: a quiet moment reuses the connection used last, whose statements psycopg
        # has prepared (after 5 runs each), instead of cycling through the whole pool; the
        # queue's statement takes ~9 ms to plan and ~3 ms to run at 1M leads (bench).
        # No pool_pre_ping: pool_ping pings only what sat idle (a round trip a checkout).
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {
            "pool_size": app.config["DB_POOL_SIZE"],
            "max_overflow": app.config["DB_MAX_OVERFLOW"], "pool_use_lifo": True})
    db.init_app(app)
    if not uri.startswith("sqlite"):
        with app.app_context():
            pool_ping.install(db.engine)
    migrate.init_app(app, db, directory=str(settings.PROJECT_ROOT / "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message_category = "info"
    if app.config.get("REDIS_URL") and app.config.get("PRODUCTION"):
        app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    limiter.init_app(app)

    @login_manager.user_loader
    def load_user(user_id: str):
        from referral_app.models import User

        user = db.session.get(User, int(user_id))
        # A deactivated user's session ends at their next request, not at its expiry.
        return user if user is not None and user.active else None


class Int32Converter(IntegerConverter):
    """`<int:...>` ids stop at the database column's range: beyond it, 404 instead of 500."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def register_blueprints(app: Flask) -> None:
    from blueprints import api as api_package
    from blueprints import web

    app.url_map.converters["int"] = Int32Converter

    web.init_app(app)
    for name in WEB_BLUEPRINTS:
        module = importlib.import_module(f"blueprints.{name}")
        app.register_blueprint(module.bp)
    api = api_package.init_api(app)
    # Every module of blueprints.api that defines `blp` is part of /api/v1.
    for info in pkgutil.iter_modules(api_package.__path__):
        module = importlib.import_module(f"blueprints.api.{info.name}")
        if hasattr(module, "blp"):
            api.register_blueprint(module.blp, url_prefix="/api/v1")
            csrf.exempt(module.blp)  # Bearer tokens only, never cookies: no CSRF to forge


def register_error_handlers(app: Flask) -> None:
    from blueprints import errors

    errors.register(app)


def register_cli(app: Flask) -> None:
    from referral_app import cli

    cli.register(app)
