"""End to end with a real RQ worker: refer, stage change, buy, reward, approve, issue."""
from datetime import UTC, datetime

from rq import SimpleWorker

from referral_app.jobs import enqueue_after_commit, get_queue, redis_connection
from referral_app.jobs.queues import worker_queue_names
from referral_app.services.stages import change_stage
from tests import factories as f
from tests.rewards.conftest import rule


def work(app):
    queues = [get_queue(name.split(":")[-1]) for name in worker_queue_names(app)]
    SimpleWorker(queues, connection=redis_connection()).work(burst=True)


def test_referral_to_purchase_to_issued_rewards(app, db, make_user, api):
    prog = f.program(rules=[rule("give", "submitted", "percent", "20", requires_approval=False),
                            rule("get", "mql", "fixed", "5", requires_approval=False),
                            rule("get", "purchase", "fixed", "100")])
    referrer = make_user("referrer", email="carla@customer.example")
    lead = f.lead(prog, referrer, email="dana@buyer.example")
    # What intake does once the referral is committed:
    enqueue_after_commit("referral_app.jobs.rewards.referral_submitted", lead.referral_id)
    change_stage(lead, "mql")
    db.session.commit()
    as_referrer, billing, marketing = api(referrer), api(make_user("admin")), \
        api(make_user("marketing"))
    work(app)  # referral_submitted and stage_changed
    mine = as_referrer.get("/api/v1/rewards").json["items"]
    assert sorted((r["side"], r["trigger"], r["status"], r["amount"]) for r in mine) == [
        ("get", "mql", "approved", "5.00"), ("give", "submitted", "approved", "20.00")]

    bought = billing.post("/api/v1/purchases", json={
        "external_id": "inv-1", "email": "dana@buyer.example", "amount": "900.00",
        "currency": "USD", "purchased_at": datetime.now(UTC).isoformat()})
    assert bought.status_code == 202
    work(app)  # match: the lead is won, the purchase reward waits for marketing
    (get,) = marketing.get("/api/v1/rewards?trigger=purchase&side=get").json["items"]
    assert (get["trigger"], get["status"], get["amount"]) == ("purchase", "pending", "100.00")
    assert marketing.post(f"/api/v1/rewards/{get['id']}/approve").status_code == 200
    assert marketing.post(f"/api/v1/rewards/{get['id']}/issue").json["status"] == "issued"
    db.session.refresh(lead)
    assert (lead.stage, str(lead.amount)) == ("won", "900.00")
    work(app)  # notifications and webhooks of the above run without errors
