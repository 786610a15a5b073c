"""Settings read from the environment, with embedded defaults for a laptop."""
import os
import secrets
from pathlib import Path

from referral_app import replica

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def instance_path() -> Path:
    """The instance folder: SQLite file, embedded Redis socket, generated secret."""
    path = Path(os.environ.get("INSTANCE_PATH", PROJECT_ROOT / "instance")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secret_key(folder: Path) -> str:
    # Generated once and kept beside the database, so sessions survive restarts
    # without a constant in the code.
    key_file = folder / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(48))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for plain postgres URLs (Heroku-style `postgres://` too)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def from_environment() -> dict:
    """The settings of a process, from its environment."""
    folder = instance_path()
    env = os.environ
    return {
        "INSTANCE_PATH": str(folder),
        "SECRET_KEY": env.get("SECRET_KEY") or _secret_key(folder),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(
            env.get("DATABASE_URL") or f"sqlite:///{folder / 'interlock.db'}"
        ),
        # Report reads go to this replica when set (referral_app.replica).
        "SQLALCHEMY_BINDS": replica.binds(normalise_database_url(
            env.get("REPORTS_DATABASE_URL", ""))),
        # None means: use the embedded Redis that `flask up` starts (see jobs.connection).
        "REDIS_URL": env.get("REDIS_URL") or None,
        "QUEUE_PREFIX": env.get("QUEUE_PREFIX", ""),
        "PORT": int(env.get("PORT", "5000")),
        "MAIL_URL": env.get("MAIL_URL") or None,
        "MAIL_FROM": env.get("MAIL_FROM", "Interlock <no-reply@interlock.local>"),
        "PUBLIC_URL": env.get("PUBLIC_URL", ""),
        "PRODUCTION": env.get("INTERLOCK_ENV", "development") == "production",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env.get("INTERLOCK_ENV") == "production",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
        "MAX_CONTENT_LENGTH": int(env.get("MAX_CONTENT_LENGTH", str(64 * 1024 * 1024))),
        "MAX_JSON_BYTES": 64 * 1024,
        # POST /api/v1/referrals: concurrent submissions of a process share one transaction
        # (blueprints/api/group_commit.py); at most this many, each waiting at most this long.
        "GROUP_COMMIT": env.get("GROUP_COMMIT", "1") == "1",
        "GROUP_COMMIT_MAX": int(env.get("GROUP_COMMIT_MAX", "64")),
        "GROUP_COMMIT_WAIT": float(env.get("GROUP_COMMIT_WAIT", "30")),
        # Who writes those groups: a thread in each web process ("thread"), or the
        # `flask intake-writer` process, fed through a socket ("process"; docs/deploy.md),
        # which listens at this address: a path (Unix socket; by default
        # <instance>/intake-writer.sock) or host:port.
        "INTAKE_WRITER": env.get("INTAKE_WRITER", "thread"),
        "INTAKE_WRITER_ADDRESS": env.get("INTAKE_WRITER_ADDRESS") or None,
        # How long a process trusts an API token it has looked up (services/token_cache.py);
        # a revocation in another process takes effect here within this many seconds.
        "API_TOKEN_CACHE_SECONDS": float(env.get("API_TOKEN_CACHE_SECONDS", "2")),
        # How long intake's writer trusts programs, MQL definitions, agreements and codes it
        # has read (services/intake_config.py); a change made in another process counts
        # there within this many seconds, one made in the same process at once.
        "INTAKE_CONFIG_CACHE_SECONDS": float(env.get("INTAKE_CONFIG_CACHE_SECONDS", "2")),
        # Connections each process keeps (PostgreSQL): at least a web worker's threads plus
        # one for intake's writer. Past the pool, SQLAlchemy opens overflow connections and
        # closes them on return: under load that is a new PostgreSQL connection per request.
        "DB_POOL_SIZE": int(env.get("DB_POOL_SIZE", "20")),
        "DB_MAX_OVERFLOW": int(env.get("DB_MAX_OVERFLOW", "10")),
        "WTF_CSRF_TIME_LIMIT": None,
        "RATELIMIT_ENABLED": env.get("RATELIMIT_ENABLED", "1") == "1",
        "RATELIMIT_HEADERS_ENABLED": True,
        # No double bursts at the edge of a fixed minute: N per any 60 seconds.
        "RATELIMIT_STRATEGY": "moving-window",
        # A limits store that is down must not take sign-in or intake down with it.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "LOGIN_MAX_FAILURES": 5,
        "LOGIN_LOCKOUT_MINUTES": 15,
        "API_TITLE": "Interlock",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
