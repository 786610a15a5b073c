"""The retention job: expired outbox, webhook log and idempotency rows go; the rest stays."""
from datetime import UTC, datetime, timedelta

from referral_app.models import (
    IdempotencyRecord,
    Notification,
    WebhookDelivery,
    WebhookSubscription,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _seed(db, user):
    old, recent = NOW - timedelta(days=120), NOW - timedelta(days=5)
    rows = [
        Notification(kind="k", subject="old sent", status="sent", created_at=old),
        Notification(kind="k", subject="old pending", status="pending", created_at=old),
        Notification(kind="k", subject="recent sent", status="sent", created_at=recent),
        IdempotencyRecord(user_id=user.id, key="old", request_hash="h", status_code=201,
                          response={}, created_at=NOW - timedelta(hours=49)),
        IdempotencyRecord(user_id=user.id, key="live", request_hash="h", status_code=201,
                          response={}, created_at=NOW - timedelta(hours=3)),
    ]
    sub = WebhookSubscription(url="https://hooks.example/x", events=["sla.breached"], secret="s")
    db.session.add_all(rows + [sub])
    db.session.flush()
    db.session.add_all([
        WebhookDelivery(subscription_id=sub.id, event="sla.breached", payload={},
                        status="delivered", created_at=NOW - timedelta(days=40)),
        WebhookDelivery(subscription_id=sub.id, event="sla.breached", payload={},
                        status="pending", created_at=NOW - timedelta(days=40)),
    ])
    db.session.commit()


def test_prune_deletes_only_expired_rows_and_is_idempotent(db, make_user):
    from referral_app.jobs.maintenance import prune_expired

    _seed(db, make_user("referrer"))
    counts = prune_expired(NOW, batch=1)  # batch of one: the loop must come back for more
    assert counts == {"notifications": 1, "webhook_deliveries": 1, "idempotency_records": 1}
    subjects = {n.subject for n in db.session.query(Notification)}
    assert subjects == {"old pending", "recent sent"}
    assert [r.key for r in db.session.query(IdempotencyRecord)] == ["live"]
    assert [d.status for d in db.session.query(WebhookDelivery)] == ["pending"]
    assert prune_expired(NOW) == {"notifications": 0, "webhook_deliveries": 0,
                                  "idempotency_records": 0}


def test_prune_job_is_registered_with_cron():
    from referral_app.jobs.cron import PERIODIC_JOBS

    assert ("referral_app.jobs.maintenance.prune", "default", {"cron": "17 3 * * *"}) \
        in PERIODIC_JOBS


def test_prune_job_runs_in_its_own_app_context(app, db, make_user):
    from referral_app.jobs.maintenance import prune

    _seed(db, make_user("referrer"))
    assert prune(NOW.isoformat())["notifications"] == 1
