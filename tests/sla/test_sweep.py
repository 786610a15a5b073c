"""The sweep: one statement, idempotent, safe when two overlap, correct after a queue outage."""
import threading
from datetime import UTC, datetime, timedelta

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import select, text

from referral_app.extensions import db
from referral_app.jobs import SLA, get_queue
from referral_app.jobs import queues as job_queues
from referral_app.models import SlaClock
from referral_app.services import sla, sla_schedule
from tests.conftest import is_postgres
from tests.sla.conftest import MONDAY_10, clock

DUE = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)


def test_sweep_marks_only_overdue_running_clocks(world):
    overdue, later = world.lead(), world.lead(at=MONDAY_10 + timedelta(hours=2))
    ids = sla.sweep(DUE + timedelta(seconds=30))
    assert ids == [clock(overdue).id]
    assert clock(overdue).status == "breached"
    assert clock(overdue).breached_at == DUE + timedelta(seconds=30)
    assert clock(later).status == "running"


def test_sweep_is_idempotent(world):
    world.lead(), world.lead()
    now = DUE + timedelta(hours=1)
    assert len(sla.sweep(now)) == 2
    db.session.commit()
    assert sla.sweep(now) == [] and sla.sweep(now + timedelta(hours=5)) == []
    assert db.session.scalar(select(db.func.count()).where(SlaClock.status == "breached")) == 2


def test_sweep_is_one_statement(world, db):
    for _ in range(3):
        world.lead()
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    db.event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert len(sla.sweep(DUE + timedelta(minutes=1))) == 3
    finally:
        db.event.remove(db.engine, "before_cursor_execute", count)
    work = [s for s in statements if s.split()[0].upper() not in ("BEGIN", "SAVEPOINT")]
    assert len(work) == 1 and work[0].lstrip().upper().startswith("UPDATE")


@pytest.mark.skipif(not is_postgres(), reason="row locks need PostgreSQL")
def test_two_concurrent_sweeps_breach_each_clock_once(world):
    for _ in range(5):
        world.lead()
    now = DUE + timedelta(minutes=1)
    statement = text("UPDATE sla_clocks SET status = 'breached', breached_at = :now "
                     "WHERE status = 'running' AND due_at < :now RETURNING id")
    first = db.engine.connect()
    second = db.engine.connect()
    try:
        first.begin()
        won = [r[0] for r in first.execute(statement, {"now": now})]  # holds the row locks
        result = {}

        def other_sweep():
            with second.begin():
                result["ids"] = [r[0] for r in second.execute(statement, {"now": now})]

        thread = threading.Thread(target=other_sweep)
        thread.start()
        thread.join(timeout=1)
        assert thread.is_alive()  # waiting on the first sweep's row locks
        first.commit()
        thread.join(timeout=10)
        assert len(won) == 5 and result["ids"] == []
    finally:
        first.close()
        second.close()


def test_service_sweeps_overlapping_in_two_sessions(world, app):
    """Two sweeps from two sessions (the cron job and the CLI): each breach recorded once."""
    for _ in range(3):
        world.lead()
    now = DUE + timedelta(minutes=1)
    with app.app_context():  # a second app context is a second session
        other = sla.sweep_and_enqueue(now)
        db.session.commit()
    assert len(other) == 3
    assert sla.sweep(now) == []


def _send_fails(monkeypatch):
    def down(jobs):
        raise RedisConnectionError("Redis is down")

    monkeypatch.setattr(job_queues, "send_all", down)


def test_recovery_after_a_queue_outage(world, cli, monkeypatch):
    """Clocks started while Redis was down (no due job) are breached by the next sweep."""
    _send_fails(monkeypatch)
    lead = world.lead()  # commit: the due and warning jobs cannot be enqueued
    monkeypatch.undo()
    queue = get_queue(SLA)
    assert queue.scheduled_job_registry.count == 0
    result = cli.invoke(args=["sla", "sweep", "--at", "2026-03-02T20:01:00+00:00"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 clock(s) breached."
    db.session.expire_all()
    first = clock(lead)
    assert first.status == "breached"
    assert first.breached_at == datetime(2026, 3, 2, 20, 1, tzinfo=UTC)
    assert queue.fetch_job(sla.job_id(f"sla-breach-{first.id}")) is not None  # its handling job
    again = cli.invoke(args=["sla", "sweep", "--at", "2026-03-02T20:05:00+00:00"])
    assert again.output.strip() == "0 clock(s) breached."


def test_a_breach_whose_job_was_lost_is_re_enqueued(world, cli, monkeypatch):
    lead = world.lead()
    _send_fails(monkeypatch)
    result = cli.invoke(args=["sla", "sweep", "--at", "2026-03-02T20:01:00+00:00"])
    assert result.output.strip() == "1 clock(s) breached."
    monkeypatch.undo()
    queue = get_queue(SLA)
    breach_id = sla.job_id(f"sla-breach-{clock(lead).id}")
    assert queue.fetch_job(breach_id) is None  # lost with Redis
    later = cli.invoke(args=["sla", "sweep", "--at", "2026-03-02T20:10:00+00:00"])
    assert later.output.strip() == "0 clock(s) breached."
    assert queue.fetch_job(breach_id) is not None


def test_sweep_cli_rejects_a_bad_instant(cli):
    result = cli.invoke(args=["sla", "sweep", "--at", "yesterday"])
    assert result.exit_code != 0 and "ISO-8601" in result.output


def test_a_flood_of_breaches_goes_in_batch_jobs_handled_once_each(world):
    from referral_app.jobs import sla as sla_jobs
    from referral_app.jobs.queues import pending_jobs
    from referral_app.models import Notification

    leads = [world.lead() for _ in range(sla_schedule.SINGLE_JOBS_UP_TO + 1)]
    ids = sla.sweep_and_enqueue(DUE + timedelta(minutes=1))
    assert sorted(ids) == sorted(clock(lead).id for lead in leads)
    jobs = [j for j in pending_jobs() if "sla-breach" in (j["job_id"] or "")]
    assert [(j["func"], sorted(j["args"][0])) for j in jobs] == [
        ("referral_app.jobs.sla.breached_many", sorted(ids))]
    db.session.commit()
    count = select(db.func.count()).select_from(Notification).where(
        Notification.kind == "sla.breached")
    assert sla_jobs.breached_many(ids) == len(ids)
    first = db.session.scalar(count)
    assert sla_jobs.breached_many(ids) == len(ids)  # a repeat handles nothing twice
    db.session.expire_all()
    assert all(clock(lead).handled_at is not None for lead in leads)
    assert first >= len(leads) and db.session.scalar(count) == first
