"""Which PostgreSQL and Redis the suite uses: real ones when reachable, embedded otherwise."""
import os
import secrets
import tempfile

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"
RUN_ID = f"t{os.getpid()}{secrets.token_hex(3)}"


def postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", DEFAULT_PG)
    if not url.startswith("postgresql"):
        return None
    try:
        import psycopg

        plain = url.replace("postgresql+psycopg://", "postgresql://")
        psycopg.connect(plain, connect_timeout=2).close()
        return url
    except Exception:  # unreachable, bad auth, no driver: all mean "fall back"
        return None


def redis_url() -> str | None:
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
    try:
        from redis import Redis

        Redis.from_url(url, socket_connect_timeout=2).ping()
        return url
    except Exception:  # unreachable means fall back to the embedded server
        return None


def embedded_redis_url() -> str:
    from referral_app.jobs.connection import embedded_redis_url as start

    return start(tempfile.mkdtemp(prefix="interlock-redis-"))
