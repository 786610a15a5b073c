"""Faults: a crashed worker's job is retried; Redis or the database down is reported cleanly."""
import os
import subprocess
import sys
from pathlib import Path

from redis import Redis
from rq import Queue, Retry

from tests.conftest import _state, make_app
from tests.services import RUN_ID

ROOT = Path(__file__).resolve().parents[2]


def test_a_job_whose_worker_dies_mid_job_is_retried_and_runs_once(app):
    conn = Redis.from_url(_state["redis"])
    key = f"{RUN_ID}:crash"
    queue = Queue(f"{RUN_ID}:crashq", connection=conn)
    job = queue.enqueue("tests.trust.jobs_for_tests.die_once_then_count", _state["redis"], key,
                        retry=Retry(max=2))
    worker = subprocess.run(
        [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", _state["redis"],
         queue.name],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    job.refresh()
    assert job.get_status() == "finished", worker.stderr[-2000:]
    assert conn.scard(f"{key}:done") == 1
    log = worker.stdout + worker.stderr
    assert "Work-horse terminated unexpectedly" in log  # the crash really happened
    assert job.retries_left == 1  # and the retry policy ran it again


_broken = make_app


def test_redis_down_is_named_by_healthz(app):
    broken = _broken(REDIS_URL="redis://127.0.0.1:1/0")
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["database"] == "ok"
    assert {"queue", "workers", "cron"} <= set(response.json["down"])


def test_database_down_gives_a_clear_503_without_a_trace(app, tmp_path):
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none"
    broken = _broken(SQLALCHEMY_DATABASE_URI=url,
                     SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 1}})
    client = broken.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503 and "database" in health.json["down"]
    page = client.post("/sign-in", data={"email": "a@b.example", "password": "whatever1"})
    assert page.status_code == 503
    assert b"not reachable" in page.data and b"Traceback" not in page.data


def test_a_commit_while_redis_is_down_keeps_the_data(app, db):
    """Enqueue failures after commit never undo the commit: the sweep/outbox recover."""
    from referral_app.jobs import enqueue_after_commit
    from referral_app.models import Calendar

    broken = _broken(REDIS_URL="redis://127.0.0.1:1/0")
    with broken.app_context():
        from referral_app.extensions import db as database

        database.session.add(Calendar(name="kept", timezone="UTC", hours={"0": [["09:00", "17:00"]]}))
        enqueue_after_commit("referral_app.jobs.heartbeat.heartbeat")
        database.session.commit()
        database.session.remove()
    assert db.session.query(Calendar).filter_by(name="kept").count() == 1
