"""The RQ workers Interlock runs: the app built once per worker process, not once per job.

`rq worker --worker-class referral_app.jobs.worker.InterlockWorker ...` is what `flask up`, the
Procfile and the systemd units in docs/deploy.md start. The plain `rq worker` forks a
work-horse per job that imports the job's module and builds the app afresh: about a second of
CPU per job, so one worker could not follow even one referral a second (each brings a rewards
job). Measured on 100 rewards jobs (docs/deploy.md): ~16 ms a job with InterlockWorker,
~70 ms with InterlockForkingWorker.

- InterlockWorker runs each job in the worker's own process, on one app and one connection
  pool (RQ's SimpleWorker). A job over its timeout is interrupted by SIGALRM; a worker killed
  mid-job leaves its job to RQ's abandoned-job cleanup and Interlock's recovery job (the
  soak kills workers mid-job and checks that nothing is lost).
- InterlockForkingWorker keeps RQ's fork per job (a horse that dies or overruns is killed
  and noticed by its parent) from a parent that already holds the app: for long or
  memory-hungry work such as a worker of its own for the `imports` queue.
"""
import gc
import importlib
import os

from rq import SimpleWorker, Worker

from referral_app.jobs import base

# Every module whose functions are enqueued: imported once here rather than per job.
JOB_MODULES = ("attainment", "heartbeat", "imports", "lead_events", "maintenance",
               "notifications", "purchases", "recovery", "reports", "rewards", "sla",
               "snapshots", "webhooks")
_fork_hook: list = []  # registered once per process


def preload(for_fork: bool = False) -> None:
    """Build the worker's app, import the job modules, configure the models and let the
    database dialect learn the server: once, instead of in every job.

    `for_fork`: a horse must not inherit a database connection (it would be shared by every
    horse, and one killed mid-transaction would leave it broken for the next), so the parent
    keeps none and each horse's pool starts empty (`dispose(close=False)` drops the pool it
    inherited without closing the parent's sockets). redis-py's pools notice a fork by
    themselves.
    """
    from sqlalchemy.orm import configure_mappers

    for name in JOB_MODULES:
        importlib.import_module(f"referral_app.jobs.{name}")
    app = base._app()
    configure_mappers()
    with app.app_context():
        for engine in _engines():
            engine.connect().close()
            if for_fork:
                engine.dispose()
    if for_fork and not _fork_hook:
        os.register_at_fork(after_in_child=_fresh_pools)
        _fork_hook.append(True)
    # All of this lives as long as the worker: out of the cyclic collector's sight, as in
    # wsgi.py (a full collection walked it for ~100 ms), and shared with forked horses.
    gc.freeze()


def _engines():
    from referral_app.extensions import db

    return list(db.engines.values())


def _fresh_pools() -> None:
    with base._app().app_context():
        for engine in _engines():
            engine.dispose(close=False)


class InterlockWorker(SimpleWorker):
    """Jobs in the worker's own process, on one app (see the module docstring)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        preload()


class InterlockForkingWorker(Worker):
    """RQ's fork per job, from a worker that already holds the app."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        preload(for_fork=True)
