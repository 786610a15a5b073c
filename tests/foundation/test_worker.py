"""The workers `flask up` and docs/deploy.md start: the app built once per worker, not per job."""
import gc
import os
import subprocess
import sys
from pathlib import Path

from redis import Redis
from rq import Queue
from rq.job import JobStatus

from referral_app.runtime import WORKER_CLASS
from tests import services
from tests.conftest import is_postgres

ROOT = Path(__file__).resolve().parents[2]


def horse_report() -> dict:
    """Enqueued by the test: what a work-horse finds when its job starts, and the database
    session its queries run in (PostgreSQL's backend pid: one per connection)."""
    from sqlalchemy import text

    from referral_app.extensions import db
    from referral_app.jobs import base

    ready = base._worker_app is not None
    with base._app().app_context():
        postgres = db.engine.dialect.name == "postgresql"
        backend = db.session.execute(text("SELECT pg_backend_pid()")).scalar() if postgres else 0
        db.session.commit()
    return {"pid": os.getpid(), "app_ready": ready, "backend": backend,
            "frozen": gc.get_freeze_count()}


def _burst(tmp_path, redis_url: str, queue: str, worker_class: list[str]) -> None:
    # The worker builds its own app from the environment: on PostgreSQL this run's schema,
    # else a SQLite file of its own, migrated.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(INSTANCE_PATH=str(tmp_path), PYTHONPATH=str(ROOT), FLASK_APP="wsgi")
    if is_postgres():
        env["DATABASE_URL"] = f"{services.postgres_url()}?options=-csearch_path%3D{services.RUN_ID}"
    else:
        subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                       cwd=ROOT, env=env, check=True, capture_output=True)
    rq = str(Path(sys.executable).with_name("rq"))
    done = subprocess.run([rq, "worker", "--burst", "--url", redis_url, *worker_class, queue],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def _run_jobs(tmp_path, worker_class: list[str]) -> list:
    redis_url = services.redis_url() or services.embedded_redis_url()
    connection = Redis.from_url(redis_url)
    queue = Queue(f"{services.RUN_ID}-worker-{tmp_path.name}", connection=connection)
    jobs = [queue.enqueue(horse_report) for _ in range(3)]
    # A real job that reads and writes the database, in every horse.
    jobs += [queue.enqueue("referral_app.jobs.sla.sweep") for _ in range(3)]
    _burst(tmp_path, redis_url, queue.name, worker_class)
    for job in jobs:
        job.refresh()
    queue.delete(delete_jobs=True)
    return jobs


def test_interlock_worker_runs_jobs_on_one_app_and_pool(app, tmp_path):
    jobs = _run_jobs(tmp_path, WORKER_CLASS)
    assert [job.get_status() for job in jobs] == [JobStatus.FINISHED] * 6
    reports = [job.return_value() for job in jobs[:3]]
    assert all(report["app_ready"] for report in reports), reports
    # What the worker built at start is out of the cyclic collector's sight (gc.freeze).
    assert all(report["frozen"] > 10_000 for report in reports), reports
    assert len({report["pid"] for report in reports}) == 1  # no fork: the worker itself
    if is_postgres():
        assert len({report["backend"] for report in reports}) == 1, reports  # pooled


def test_forking_worker_builds_the_app_before_each_fork(app, tmp_path):
    jobs = _run_jobs(tmp_path, ["--worker-class", "referral_app.jobs.worker.InterlockForkingWorker"])
    assert [job.get_status() for job in jobs] == [JobStatus.FINISHED] * 6
    reports = [job.return_value() for job in jobs[:3]]
    assert all(report["app_ready"] for report in reports), reports
    assert len({report["pid"] for report in reports}) == 3  # one forked horse per job
    if is_postgres():
        # Each horse opens its own connection: none inherits one from the worker (a horse
        # killed mid-transaction would leave it broken for the next).
        assert len({report["backend"] for report in reports}) == 3, reports


def test_the_plain_worker_builds_it_in_every_horse(app, tmp_path):
    # The reference these classes exist for: without one, each horse starts with no app.
    jobs = _run_jobs(tmp_path, [])
    assert [job.get_status() for job in jobs] == [JobStatus.FINISHED] * 6
    assert not any(job.return_value()["app_ready"] for job in jobs[:3])
