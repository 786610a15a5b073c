"""Periodic jobs, registered for `rq cron referral_app/jobs/cron.py` (exactly one process)."""
import os

from rq import cron

PREFIX = os.environ.get("QUEUE_PREFIX", "")

# (dotted job path, queue, keyword arguments for cron.register). Later capabilities add here.
PERIODIC_JOBS = [
    ("referral_app.jobs.heartbeat.heartbeat", "default", {"interval": 30}),
]


def _resolve(path: str):
    import importlib

    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


for _path, _queue, _when in PERIODIC_JOBS:
    cron.register(_resolve(_path), queue_name=PREFIX + _queue, **_when)
