"""Jobs: enqueue-after-commit, a real worker run against real Redis, /healthz."""
import time

import pytest
from rq import SimpleWorker

from referral_app.jobs import DEFAULT, enqueue_after_commit, get_queue, redis_connection
from referral_app.jobs.heartbeat import heartbeat_key
from referral_app.jobs.queues import pending_jobs, worker_queue_names
from referral_app.models import Calendar


def _calendar(db, name="c"):
    db.session.add(Calendar(name=name, timezone="UTC", hours={"0": [["09:00", "17:00"]]}))


def test_commit_sends_the_job(app, db):
    _calendar(db)
    enqueue_after_commit("referral_app.jobs.heartbeat.heartbeat")
    assert get_queue(DEFAULT).count == 0  # nothing leaves before the commit
    db.session.commit()
    assert get_queue(DEFAULT).count == 1
    assert pending_jobs() == []


def test_rollback_drops_the_job(app, db):
    _calendar(db)
    enqueue_after_commit("referral_app.jobs.heartbeat.heartbeat")
    assert len(pending_jobs()) == 1
    db.session.rollback()
    db.session.commit()
    assert get_queue(DEFAULT).count == 0


def test_a_job_id_is_enqueued_once(app, db):
    for _ in range(2):
        _calendar(db, name=f"c{_}")
        enqueue_after_commit("referral_app.jobs.heartbeat.heartbeat", job_id="beat-1")
        db.session.commit()
    assert get_queue(DEFAULT).count == 1


def test_a_commits_jobs_go_together_skipping_only_those_already_on_their_way(app, db):
    """One commit, several jobs: queued and scheduled ones are sent in one pipeline; a job
    whose id is still waiting is left alone; one whose id finished long ago runs again."""
    from datetime import UTC, datetime, timedelta

    from rq.job import Job

    queue = get_queue(DEFAULT)
    enqueue_after_commit("referral_app.jobs.heartbeat.heartbeat", job_id="waiting")
    enqueue_after_commit("referral_app.jobs.heartbeat.heartbeat", job_id="finished")
    _calendar(db)
    db.session.commit()
    finished = queue.fetch_job(queue.job_ids[-1])
    finished.set_status("finished")
    queue.remove(finished)
    later = datetime.now(UTC) + timedelta(hours=1)
    _calendar(db, name="c2")
    for job_id in ("waiting", "finished", "new-1", "new-2"):
        enqueue_after_commit("referral_app.jobs.heartbeat.heartbeat", job_id=job_id)
    enqueue_after_commit("referral_app.jobs.heartbeat.heartbeat", job_id="later", at=later)
    db.session.commit()
    queued = queue.job_ids
    # waiting (once), finished (again), new-1 and new-2
    assert len(queued) == 4, queued
    assert [sum(j.endswith(name) for j in queued) for name in ("waiting", "finished")] == [1, 1]
    scheduled = queue.scheduled_job_registry.get_job_ids()
    assert len(scheduled) == 1 and scheduled[0].endswith("later")
    assert Job.fetch(scheduled[0], connection=redis_connection()).get_status() == "scheduled"


def test_a_real_worker_runs_the_job(app, db):
    _calendar(db)
    enqueue_after_commit("referral_app.jobs.heartbeat.heartbeat")
    db.session.commit()
    queues = [get_queue(name.split(":")[-1]) for name in worker_queue_names(app)]
    worker = SimpleWorker(queues, connection=redis_connection())
    assert worker.work(burst=True)
    beat = redis_connection().get(heartbeat_key())
    assert beat is not None and abs(float(beat) - time.time()) < 60


def test_healthz_names_the_missing_worker_and_cron(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json
    assert body["database"] == "ok" and body["queue"] == "ok"
    assert body["workers"] == 0 and "workers" in body["down"] and "cron" in body["down"]


def test_healthz_ok_with_a_live_worker_and_a_fresh_heartbeat(app, client):
    from rq import Worker

    queues = [get_queue(name.split(":")[-1]) for name in worker_queue_names(app)]
    worker = Worker(queues, connection=redis_connection(), name=f"w-{time.time_ns()}")
    worker.register_birth()
    try:
        redis_connection().set(heartbeat_key(), time.time())
        response = client.get("/healthz")
        assert response.status_code == 200, response.json
        assert response.json == {"database": "ok", "queue": "ok", "workers": 1, "cron": "ok"}
    finally:
        worker.register_death()
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json["down"] == ["workers"]


def _locked():
    import sqlite3

    from sqlalchemy.exc import OperationalError

    return OperationalError("UPDATE rewards ...", {}, sqlite3.OperationalError("database is locked"))


def test_a_job_whose_sqlite_snapshot_went_stale_runs_again_at_once(app, db):
    from referral_app.jobs.base import app_job

    calls = []

    @app_job
    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise _locked()  # another process committed since this job's first read
        return "done"

    assert flaky() == "done" and len(calls) == 2


def test_other_errors_and_a_lock_that_persists_still_fail_the_job(app, db):
    from referral_app.jobs import base

    calls = []

    @base.app_job
    def always_locked():
        calls.append(1)
        raise _locked()

    @base.app_job
    def broken():
        calls.append(2)
        raise ValueError("a bug")

    with pytest.raises(Exception, match="database is locked"):
        always_locked()
    with pytest.raises(ValueError):
        broken()
    assert calls == [1] * base.SNAPSHOT_RETRIES + [2]
