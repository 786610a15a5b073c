"""Redis down at the app level: intake, the queue and attempts keep working; work is recovered.

The app under test points at a Redis that refuses connections (port 1). Everything a person
does must still be saved; what the lost jobs would have done must happen once Redis is back.
"""
from datetime import timedelta

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from referral_app.extensions import db as database
from referral_app.extensions import limiter
from referral_app.jobs import SLA, get_queue, redis_connection
from referral_app.jobs.queues import worker_queue_names
from referral_app.models import Attempt, Lead, Notification, Referral, Reward, SlaClock
from referral_app.models.base import utcnow
from referral_app.services import sla
from referral_app.services.auth import create_token
from tests import factories as f
from tests.conftest import make_app, sign_in

REDIS_DOWN = "redis://127.0.0.1:1/0"


@pytest.fixture
def broken(app):
    yield make_app(REDIS_URL=REDIS_DOWN)
    limiter.enabled = app.config["RATELIMIT_ENABLED"]


@pytest.fixture
def world(db, make_user):
    cal = f.calendar(name="faults-cal")
    f.agreement("Widget", cal)
    program = f.program(slug="faults", mql_on_arrival=True,
                        rules=[("give", "submitted", "percent", 20),
                               ("get", "submitted", "fixed", 10),
                               ("get", "mql", "fixed", 25)])
    referrer = make_user("referrer", kind="customer", email="ref@faults.example")
    rep = make_user("sales", email="rep@faults.example", product="Widget")
    code = f.code(referrer, program)
    token = create_token(referrer.email)
    db.session.commit()
    return {"program": program, "referrer": referrer, "rep": rep, "code": code.code,
            "token": token}


def _intake_while_down(broken, world) -> tuple[int, int]:
    """One referral through the API and one through the landing form; their lead ids."""
    client = broken.test_client()
    response = client.post("/api/v1/referrals", headers={"Authorization": f"Bearer {world['token']}"},
                           json={"program": "faults", "consent": True,
                                 "referee": {"name": "Api Ann", "email": "ann@prospect.example"}})
    assert response.status_code == 201, response.json
    landing = client.post(f"/r/{world['code']}", data={
        "name": "Landing Lou", "email": "lou@prospect.example", "consent": "y"})
    assert landing.status_code == 302 and landing.headers["Location"].endswith("/thanks")
    lou = database.session.scalar(select(Lead).where(Lead.email == "lou@prospect.example"))
    return response.json["lead"]["id"], lou.id


def test_intake_queue_and_attempts_keep_working_while_redis_is_down(broken, db, world):
    api_lead, landing_lead = _intake_while_down(broken, world)
    for lead_id in (api_lead, landing_lead):
        lead = db.session.get(Lead, lead_id)
        assert lead.owner_id == world["rep"].id and lead.stage == "mql"
        clock = db.session.scalar(select(SlaClock).where(SlaClock.lead_id == lead_id))
        assert clock.kind == "first_attempt" and clock.status == "running"

    rep = sign_in(broken.test_client(), world["rep"])
    queue = rep.get("/queue/")
    assert queue.status_code == 200
    assert b"Api Ann" in queue.data and b"Landing Lou" in queue.data
    logged = rep.post(f"/queue/leads/{landing_lead}/attempt",
                      data={"attempt-channel": "call", "attempt-outcome": "no_answer"})
    assert logged.status_code == 302, logged.data[:400]
    rep_token = create_token(world["rep"].email)
    db.session.commit()
    via_api = broken.test_client().post(
        f"/api/v1/leads/{api_lead}/attempts", headers={"Authorization": f"Bearer {rep_token}"},
        json={"channel": "email", "outcome": "voicemail"})
    assert via_api.status_code == 201, via_api.json
    assert db.session.scalar(select(func.count()).select_from(Attempt)) == 2
    met = db.session.scalars(select(SlaClock.status).where(SlaClock.kind == "first_attempt"))
    assert set(met) == {"met"}


def test_the_sweep_breaches_from_the_database_alone_and_requeues_when_redis_is_back(
        app, broken, db, world):
    api_lead, _ = _intake_while_down(broken, world)
    later = utcnow() + timedelta(days=30)
    with broken.app_context():  # the cron's sweep, while Redis is still down
        breached = sla.sweep_and_enqueue(later)
        database.session.commit()
        database.session.remove()
    assert len(breached) == 2
    db.session.commit()  # read anew (SQLite's open snapshot predates the sweep)
    clocks = db.session.scalars(select(SlaClock)).all()
    assert {c.status for c in clocks} == {"breached"} and all(c.handled_at is None for c in clocks)

    # Redis is back: a sweep a few minutes on re-enqueues the breaches whose job was lost.
    assert sla.sweep_and_enqueue(later + timedelta(minutes=5)) == []
    db.session.commit()
    queue = get_queue(SLA)
    for clock in clocks:
        assert queue.fetch_job(sla.job_id(f"sla-breach-{clock.id}")) is not None
    _drain(app)
    db.session.expire_all()
    assert all(c.handled_at is not None for c in db.session.scalars(select(SlaClock)))
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.kind == "sla.breached")) >= 2


def test_the_jobs_an_outage_lost_create_each_reward_once_when_they_run(app, broken, db, world):
    """The rewards job carries only ids and is idempotent: running it late, or twice, is safe."""
    from referral_app.jobs.lead_events import stage_changed
    from referral_app.jobs.rewards import referral_submitted
    from referral_app.models import LeadEvent

    api_lead, landing_lead = _intake_while_down(broken, world)
    assert db.session.scalar(select(func.count()).select_from(Reward)) == 0  # the jobs were lost
    for lead_id in (api_lead, landing_lead):
        lead = db.session.get(Lead, lead_id)
        event = db.session.scalar(select(LeadEvent).where(LeadEvent.lead_id == lead_id,
                                                          LeadEvent.kind == "stage",
                                                          LeadEvent.to_stage == "mql"))
        for _ in range(2):
            referral_submitted(lead.referral_id)
            stage_changed(event.id)
    rewards = db.session.execute(select(Reward.referral_id, Reward.trigger, Reward.side)).all()
    assert len(rewards) == 6 and len(set(rewards)) == 6  # 3 rules x 2 referrals, once each


def test_cron_recovers_the_rewards_and_notifications_an_outage_lost(app, broken, db, world):
    import time_machine

    from referral_app.jobs.cron import PERIODIC_JOBS, _resolve

    _intake_while_down(broken, world)
    assert db.session.scalar(select(func.count()).select_from(Reward)) == 0
    # Redis is back; a few minutes on, one tick of every periodic job, then the worker.
    with time_machine.travel(utcnow() + timedelta(minutes=5), tick=True):
        for path, _queue, _when in PERIODIC_JOBS:
            _resolve(path)()
        _drain(app)
    db.session.expire_all()
    referrals = db.session.scalars(select(Referral)).all()
    assert len(referrals) == 2 and all(len(r.rewards) == 3 for r in referrals)
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.status == "pending")) == 0
    assert db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.kind == "stage_changed")) == 2


def _drain(app) -> None:
    """Run every job now in the queues of this test run, in this process."""
    queues = [get_queue(name.split(":")[-1]) for name in worker_queue_names(app)]
    SimpleWorker(queues, connection=redis_connection()).work(burst=True)


def test_rate_limited_forms_keep_working_when_the_limits_store_is_down(app, db, world):
    """In production the limits live in Redis: a Redis outage must not turn sign-in and the
    referee landing into errors (the limits fail open)."""
    production = make_app(REDIS_URL=REDIS_DOWN, PRODUCTION=True, RATELIMIT_ENABLED=True)
    try:
        client = production.test_client()
        landing = client.post(f"/r/{world['code']}", data={
            "name": "Landing Lou", "email": "lou@prospect.example", "consent": "y"})
        assert landing.status_code == 302, landing.status_code
        signed_in = client.post("/sign-in", data={"email": world["rep"].email,
                                                   "password": "correct horse"})
        assert signed_in.status_code == 302, signed_in.status_code
    finally:
        limiter.enabled = app.config["RATELIMIT_ENABLED"]
