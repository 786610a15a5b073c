"""Recovery: follow-up jobs lost while Redis was down are re-enqueued and run exactly once."""
from datetime import timedelta

from rq import SimpleWorker
from sqlalchemy import func, select

from referral_app.app import create_app
from referral_app.jobs import ALL_QUEUES, get_queue, redis_connection
from referral_app.jobs.recovery import recover
from referral_app.models import LeadEvent, Referral, Reward
from referral_app.models.base import utcnow
from referral_app.services import intake
from referral_app.services.stages import change_stage
from tests import factories as f
from tests.conftest import make_config


def _work():
    worker = SimpleWorker([get_queue(q) for q in ALL_QUEUES], connection=redis_connection())
    worker.work(burst=True)


def test_work_committed_while_redis_was_down_is_recovered_once(app, db):
    prog = f.program(rules=[("get", "submitted", "fixed", 10), ("get", "mql", "fixed", 5)])
    referrer = f.user("referrer")
    db.session.commit()
    broken = create_app(make_config(REDIS_URL="redis://127.0.0.1:1/0"))
    with broken.app_context():
        from referral_app.extensions import db as outage_db

        referral = intake.submit(prog.slug, {"name": "Oona Outage", "email": "oona@lost.example"},
                                 source="api", referrer_id=referrer.id, consent=True)
        change_stage(referral.lead, "mql", reason="test")
        referral_id = referral.id
        outage_db.session.commit()  # the enqueue fails; the data stays
        outage_db.session.remove()
    assert get_queue("default").count == 0
    assert db.session.scalar(select(func.count()).select_from(Reward)) == 0

    too_soon = recover(utcnow())
    assert too_soon == {"referrals": 0, "events": 0, "notifications": 0}
    later = utcnow() + timedelta(minutes=3)
    found = recover(later)
    assert found["referrals"] == 1 and found["events"] == 1
    assert recover(later)["referrals"] == 1  # still unprocessed, but not enqueued twice:
    assert get_queue("default").count == 2
    _work()
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Reward)) == 2
    assert db.session.get(Referral, referral_id).followed_up_at is not None
    assert db.session.scalar(select(func.count()).select_from(LeadEvent)
                             .where(LeadEvent.processed_at.is_(None),
                                    LeadEvent.kind == "stage", LeadEvent.to_stage == "mql")) == 0
    assert recover(later + timedelta(minutes=5))["referrals"] == 0


def test_a_job_held_by_a_dead_worker_is_reclaimed_and_run(app, db):
    """A referral whose follow-up job sat under a SIGKILLed worker is recovered too."""
    import time

    from rq.job import JobStatus
    from rq.registry import StartedJobRegistry

    from referral_app.jobs.queues import rq_job_id

    prog = f.program(rules=[("get", "submitted", "fixed", 10)])
    referrer = f.user("referrer")
    referral = f.lead(prog, referrer=referrer).referral
    referral.created_at = utcnow() - timedelta(minutes=10)
    db.session.commit()
    queue = get_queue("default")
    job = queue.enqueue("referral_app.jobs.rewards.referral_submitted", referral.id,
                        job_id=rq_job_id(f"referral-submitted-{referral.id}"))
    queue.remove(job)  # a worker took it ...
    job.set_status(JobStatus.STARTED)
    registry = StartedJobRegistry(queue=queue)
    # ... and died: its execution's lease in the registry ran out a minute ago.
    redis_connection().zadd(registry.key, {f"{job.id}:dead-execution": time.time() - 60})
    recover(utcnow())
    _work()
    db.session.expire_all()
    assert db.session.get(Referral, referral.id).followed_up_at is not None
    assert db.session.scalar(select(func.count()).select_from(Reward)) == 1
