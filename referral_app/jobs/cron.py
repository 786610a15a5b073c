"""Periodic jobs, registered for `rq cron referral_app/jobs/cron.py` (exactly one process)."""
import os

from rq import cron

PREFIX = os.environ.get("QUEUE_PREFIX", "")

# (dotted job path, queue, keyword arguments for cron.register). Later capabilities add here.
PERIODIC_JOBS = [
    ("referral_app.jobs.heartbeat.heartbeat", "default", {"interval": 30}),
    ("referral_app.jobs.attainment.track", "default", {"cron": "7 * * * *"}),  # hourly
    ("referral_app.jobs.sla.sweep", "sla", {"cron": "* * * * *"}),
    ("referral_app.jobs.recovery.recover", "default", {"cron": "* * * * *"}),  # the outbox
    ("referral_app.jobs.rewards.issue_due", "default", {"cron": "*/5 * * * *"}),
    ("referral_app.jobs.snapshots.nightly", "default", {"cron": "30 2 * * *"}),  # UTC
    ("referral_app.jobs.reports.roll_up", "default", {"cron": "*/10 * * * *"}),  # SLA days
    ("referral_app.jobs.maintenance.prune", "default", {"cron": "17 3 * * *"}),  # retention
]


def _resolve(path: str):
    import importlib

    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


for _path, _queue, _when in PERIODIC_JOBS:
    cron.register(_resolve(_path), queue_name=PREFIX + _queue, **_when)
