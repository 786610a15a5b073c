"""The heartbeat job: proves that cron enqueues and a worker runs what it enqueues."""
import time

from flask import current_app

from referral_app.jobs.base import app_job
from referral_app.jobs.queues import redis_connection

HEARTBEAT_KEY = "interlock:cron:heartbeat"
HEARTBEAT_INTERVAL = 30  # seconds; /healthz calls cron stale after 3 intervals


def heartbeat_key() -> str:
    return current_app.config.get("QUEUE_PREFIX", "") + HEARTBEAT_KEY


# `flask intake-writer` (INTAKE_WRITER=process) beats every few seconds while it runs.
INTAKE_WRITER_KEY = "interlock:intake-writer:heartbeat"
INTAKE_WRITER_INTERVAL = 2  # seconds; /healthz calls the writer missing after 5 intervals


def intake_writer_key(app=None) -> str:
    return (app or current_app).config.get("QUEUE_PREFIX", "") + INTAKE_WRITER_KEY


@app_job
def heartbeat() -> float:
    now = time.time()
    redis_connection().set(heartbeat_key(), now, ex=HEARTBEAT_INTERVAL * 10)
    return now
