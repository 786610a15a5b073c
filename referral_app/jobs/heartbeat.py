"""The heartbeat job: proves that cron enqueues and a worker runs what it enqueues."""
import time

from flask import current_app

from referral_app.jobs.base import app_job
from referral_app.jobs.queues import redis_connection

HEARTBEAT_KEY = "interlock:cron:heartbeat"
HEARTBEAT_INTERVAL = 30  # seconds; /healthz calls cron stale after 3 intervals


def heartbeat_key() -> str:
    return current_app.config.get("QUEUE_PREFIX", "") + HEARTBEAT_KEY


@app_job
def heartbeat() -> float:
    now = time.time()
    redis_connection().set(heartbeat_key(), now, ex=HEARTBEAT_INTERVAL * 10)
    return now
