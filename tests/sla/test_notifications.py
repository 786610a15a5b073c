"""Jobs around the due time: scheduling, early warning, breach handling, each effective once."""
from datetime import UTC, datetime, timedelta

import time_machine
from rq import SimpleWorker
from sqlalchemy import select

from referral_app.extensions import db
from referral_app.jobs import SLA, get_queue, redis_connection
from referral_app.jobs import sla as sla_jobs
from referral_app.jobs.cron import PERIODIC_JOBS
from referral_app.models import LeadEvent, Notification
from referral_app.services import sla, sla_alerts, sla_schedule
from referral_app.services.stages import change_stage
from tests.sla.conftest import MONDAY_10, clock

DUE = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)  # Monday 15:00 New York
WARN = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # 4 of 5 business hours: Monday 14:00


def _notes(kind=None):
    query = select(Notification).order_by(Notification.id)
    if kind:
        query = query.where(Notification.kind == kind)
    return db.session.scalars(query).all()


def _scheduled():
    registry = get_queue(SLA).scheduled_job_registry
    return {job_id: registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids()}


def test_a_clock_schedules_no_job_of_its_own_and_stores_its_warning_point(world):
    lead = world.lead()
    first = clock(lead)
    assert _scheduled() == {}  # due in 5 business hours: a minute sweep will plan it
    assert (first.due_at, first.warn_at, first.warned_at) == (DUE, WARN, None)


def test_the_minute_sweep_plans_one_precise_sweep_per_due_second(world):
    leads = [world.lead() for _ in range(3)]  # all due at 15:00 New York
    assert sla.plan_precise(DUE - timedelta(seconds=91)) == 0  # not yet within PLAN_AHEAD
    sla.sweep_and_enqueue(DUE - timedelta(seconds=60))
    sla.sweep_and_enqueue(DUE - timedelta(seconds=30))  # the next minute plans nothing new
    db.session.commit()
    second = DUE + timedelta(seconds=1)  # the first whole second after due_at
    assert _scheduled() == {sla.job_id(f"sla-sweep-at-{int(second.timestamp())}"): second}
    with time_machine.travel(DUE, tick=False):
        assert sla_jobs.sweep_at(second.isoformat()) == 0  # nothing is late yet
    with time_machine.travel(second, tick=False):
        assert sla_jobs.sweep_at(second.isoformat()) == 3
        assert sla_jobs.sweep_at(second.isoformat()) == 0  # a second run changes nothing
    db.session.expire_all()
    assert {(clock(lead).status, clock(lead).breached_at) for lead in leads} == {
        ("breached", second)}
    assert get_queue(SLA).fetch_job(sla.job_id(f"sla-breach-{clock(leads[0]).id}")) is not None


def test_a_clock_due_within_a_minute_and_a_half_gets_its_precise_sweep_when_it_starts(world):
    world.agreement.first_attempt_hours, world.agreement.first_attempt_clock = 0.02, "calendar"
    lead = world.lead()  # due 72 s after 10:00: before any minute sweep could plan it
    due = clock(lead).due_at
    assert due == MONDAY_10 + timedelta(seconds=72)
    second = due + timedelta(seconds=1)
    assert _scheduled() == {sla.job_id(f"sla-sweep-at-{int(second.timestamp())}"): second}


def test_every_due_time_is_planned_by_some_minute_sweep(world):
    # Sweeps run at whole minutes with PLAN_AHEAD (> 60 s) of look-ahead: wherever a due time
    # falls within its minute, one of them plans its second.
    offsets = (0, 13, 29, 47, 59)
    leads = [world.lead(at=MONDAY_10 + timedelta(seconds=n)) for n in offsets]
    for minutes_before in (3, 2, 1, 0):
        sla.plan_precise(DUE - timedelta(minutes=minutes_before))
        db.session.commit()
    planned = set(_scheduled().values())
    assert {clock(lead).due_at + timedelta(seconds=1) for lead in leads} <= planned
    assert len(planned) == len(offsets)


def _warn_jobs():
    from referral_app.jobs.queues import pending_jobs

    return [j for j in pending_jobs() if "sla-warn" in (j["job_id"] or "")]


def test_the_minute_sweep_sends_the_warning_once_it_is_due(world):
    lead = world.lead()
    first = clock(lead)
    assert sla.due_warnings(WARN - timedelta(seconds=1)) == []
    sla.sweep_and_enqueue(WARN - timedelta(seconds=1))
    assert _warn_jobs() == []
    sla.sweep_and_enqueue(WARN + timedelta(seconds=30))
    assert [(j["func"], j["args"]) for j in _warn_jobs()] == [
        ("referral_app.jobs.sla.warn", (first.id,))]
    db.session.commit()
    with time_machine.travel(WARN + timedelta(seconds=40), tick=False):
        assert sla_jobs.warn(first.id) == "warned"
    # The next minute finds nothing left to warn; nor does a sweep once the clock is due.
    assert sla.due_warnings(WARN + timedelta(minutes=1)) == []
    assert sla.due_warnings(DUE + timedelta(minutes=1)) == []
    assert [n.user_id for n in _notes("sla.warning")] == [world.rep.id]


def test_a_worker_runs_the_warning_the_sweep_queued(world, cli):
    lead = world.lead()
    result = cli.invoke(args=["sla", "sweep", "--at", WARN.isoformat()])
    assert result.exit_code == 0, result.output
    with time_machine.travel(WARN + timedelta(seconds=5), tick=False):
        SimpleWorker([get_queue(SLA)], connection=redis_connection()).work(burst=True)
    db.session.expire_all()
    assert clock(lead).warned_at == WARN + timedelta(seconds=5)
    assert [n.user_id for n in _notes("sla.warning")] == [world.rep.id]


def test_a_flood_of_warnings_goes_in_batch_jobs_warned_once_each(world):
    leads = [world.lead() for _ in range(sla_schedule.SINGLE_JOBS_UP_TO + 1)]
    sla.sweep_and_enqueue(WARN)
    [job] = _warn_jobs()
    assert job["func"] == "referral_app.jobs.sla.warn_many"
    assert sorted(job["args"][0]) == sorted(clock(lead).id for lead in leads)
    db.session.commit()
    with time_machine.travel(WARN, tick=False):
        assert sla_jobs.warn_many(job["args"][0]) == len(leads)
        sla_jobs.warn_many(job["args"][0])  # a repeat warns nobody twice
    assert len(_notes("sla.warning")) == len(leads)


def test_a_reassignment_restarts_the_warning_point(world):
    from referral_app.services import leads

    lead = world.lead()
    with time_machine.travel(WARN, tick=False):
        sla_jobs.warn(clock(lead).id)
    later = MONDAY_10 + timedelta(hours=2)
    leads.reassign(lead, world.other_rep.id, None, at=later, restart=True, reason="holiday")
    db.session.commit()
    restarted = clock(lead)
    assert restarted.warned_at is None and restarted.warn_at == WARN + timedelta(hours=2)


def test_the_sweep_runs_every_minute_from_rq_cron():
    assert ("referral_app.jobs.sla.sweep", "sla", {"cron": "* * * * *"}) in PERIODIC_JOBS


def test_the_per_clock_due_job_of_older_clocks_still_breaches_to_the_second(world):
    lead = world.lead()
    first = clock(lead)
    with time_machine.travel(DUE - timedelta(seconds=1), tick=False):
        assert sla_jobs.due(first.id) is False
    with time_machine.travel(DUE + timedelta(seconds=1), tick=False):
        assert sla_jobs.due(first.id) is True
        assert sla_jobs.due(first.id) is False  # a second run changes nothing
    db.session.expire_all()
    assert (clock(lead).status, clock(lead).breached_at) == ("breached", DUE + timedelta(seconds=1))
    assert get_queue(SLA).fetch_job(sla.job_id(f"sla-breach-{first.id}")) is not None


def test_early_warning_once_even_if_the_job_runs_twice(world):
    lead = world.lead()
    first = clock(lead)
    with time_machine.travel(WARN, tick=False):
        assert sla_jobs.warn(first.id) == "warned"
        assert sla_jobs.warn(first.id) == "skipped"
    notes = _notes("sla.warning")
    assert len(notes) == 1 and notes[0].user_id == world.rep.id
    assert "first attempt" in notes[0].subject and notes[0].data["lead_id"] == lead.id
    db.session.expire_all()
    assert clock(lead).warned_at == WARN


def test_no_warning_once_met(world):
    from referral_app.services import leads

    lead = world.lead()
    leads.log_attempt(lead, world.rep.id, "call", "no_answer", at=MONDAY_10)
    db.session.commit()
    with time_machine.travel(WARN, tick=False):
        assert sla_jobs.warn(clock(lead).id) == "skipped"
    assert _notes("sla.warning") == []


def test_breach_notifies_owner_and_manager_once_even_if_the_job_runs_twice(world):
    lead = world.lead()
    first = clock(lead)
    sla.sweep(DUE + timedelta(minutes=1))
    db.session.commit()
    with time_machine.travel(DUE + timedelta(minutes=2), tick=False):
        assert sla_jobs.breached(first.id) == "notified"
        assert sla_jobs.breached(first.id) == "skipped"
    notes = _notes("sla.breached")
    assert sorted(n.user_id for n in notes) == sorted([world.rep.id, world.manager.id])
    assert {n.dedupe_key for n in notes} == {f"breach:{first.id}:{world.rep.id}",
                                             f"breach:{first.id}:{world.manager.id}"}
    assert all(n.email for n in notes)
    db.session.expire_all()
    assert clock(lead).handled_at is not None


def test_breach_dedupe_holds_even_without_the_handled_mark(world):
    lead = world.lead()
    first = clock(lead)
    sla.sweep(DUE + timedelta(minutes=1))
    db.session.commit()
    sla_alerts.handle_breach(first.id, DUE + timedelta(minutes=2))
    db.session.commit()
    clock(lead).handled_at = None  # as if the first run died after notifying
    db.session.commit()
    sla_alerts.handle_breach(first.id, DUE + timedelta(minutes=3))
    db.session.commit()
    assert len(_notes("sla.breached")) == 2


def test_without_a_manager_every_sales_manager_hears_of_it(world, make_user):
    second = make_user("sales_manager")
    world.rep.manager_id = None
    db.session.commit()
    lead = world.lead()
    sla.sweep(DUE + timedelta(minutes=1))
    db.session.commit()
    sla_alerts.handle_breach(clock(lead).id, DUE + timedelta(minutes=2))
    notified = {n.user_id for n in _notes("sla.breached")}
    assert notified == {world.rep.id, world.manager.id, second.id}


def test_auto_reassignment_to_the_next_rep(world):
    world.agreement.auto_reassign = True
    lead = world.lead()
    first = clock(lead)
    sla.sweep(DUE + timedelta(minutes=1))
    db.session.commit()
    assert sla_alerts.handle_breach(first.id, DUE + timedelta(minutes=2)) == "reassigned"
    db.session.commit()
    assert lead.owner_id == world.other_rep.id
    assign = db.session.scalars(select(LeadEvent).where(LeadEvent.lead_id == lead.id,
                                                        LeadEvent.kind == "assign")).one()
    assert assign.data["from_owner"] == world.rep.id and "missed" in assign.reason
    assert clock(lead).owner_id == world.rep.id  # the miss stays with the rep who missed it
    assert world.other_rep.id in {n.user_id for n in _notes("lead.assigned")}


def test_a_lead_closed_in_time_elsewhere_has_its_clock_cancelled_not_breached(world):
    lead = world.lead()
    change_stage(lead, "won", at=MONDAY_10 + timedelta(hours=1), reason="purchase")
    db.session.commit()
    assert clock(lead).status == "cancelled"  # closing cancels what is still owed
    assert sla.sweep(DUE + timedelta(minutes=1)) == []
    db.session.commit()
    assert clock(lead).status == "cancelled" and _notes() == []


def test_a_real_worker_runs_the_breach_job_from_the_sweep(world, cli):
    lead = world.lead()
    result = cli.invoke(args=["sla", "sweep", "--at", "2026-03-02T20:01:00+00:00"])
    assert result.output.strip() == "1 clock(s) breached."
    worker = SimpleWorker([get_queue(SLA)], connection=redis_connection())
    assert worker.work(burst=True)
    db.session.expire_all()
    assert clock(lead).handled_at is not None
    assert {n.user_id for n in _notes("sla.breached")} == {world.rep.id, world.manager.id}


def test_a_breach_is_published_to_webhook_subscribers_once(world):
    from referral_app.models import WebhookDelivery
    from referral_app.services import webhooks

    webhooks.create_subscription("https://hooks.example.com/interlock", ["sla.breached"])
    lead = world.lead()
    [clock_id] = sla.sweep(DUE + timedelta(minutes=1))
    db.session.commit()
    for _ in range(2):
        sla_alerts.handle_breach(clock_id, DUE + timedelta(minutes=2))
        clock(lead).handled_at = None
        db.session.commit()
    [delivery] = db.session.scalars(select(WebhookDelivery)).all()
    assert delivery.event == "sla.breached"
    assert delivery.payload["data"]["clock_id"] == clock_id
    assert delivery.payload["data"]["lead_id"] == lead.id
