"""Jobs used by the fault tests: one that kills its own work-horse the first time it runs."""
import os
import signal

from redis import Redis


def die_once_then_count(redis_url: str, key: str) -> int:
    """First run: mark and SIGKILL the work-horse (a crash mid-job). Later runs: count once."""
    conn = Redis.from_url(redis_url)
    if conn.setnx(f"{key}:started", 1):
        os.kill(os.getpid(), signal.SIGKILL)
    # Idempotent effect: a set, so a duplicate run cannot count twice.
    conn.sadd(f"{key}:done", "the-one-effect")
    return conn.scard(f"{key}:done")
