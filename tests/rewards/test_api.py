"""API contract: /purchases (202, 422 fields, idempotent) and /rewards (who sees and decides)."""

import pytest
from sqlalchemy import func, select

from referral_app.jobs import purchases as purchase_jobs
from referral_app.models import Purchase
from referral_app.services import reward_states, rewards
from tests import factories as f
from tests.rewards.conftest import rule

PURCHASE = {"external_id": "inv-100", "email": "Buyer@Acme.example", "amount": "1200.00",
            "currency": "usd", "purchased_at": "2026-05-01T10:00:00+02:00", "referral_code": None}


def test_post_purchase_is_accepted_once(db, make_user, api):
    billing = api(make_user("admin"))
    response = billing.post("/api/v1/purchases", json=PURCHASE)
    assert response.status_code == 202, response.json
    body = response.json
    assert (body["external_id"], body["email"], body["amount"], body["currency"], body["status"]) \
        == ("inv-100", "buyer@acme.example", "1200.00", "USD", "unmatched")
    assert body["purchased_at"] == "2026-05-01T08:00:00+00:00"
    again = billing.post("/api/v1/purchases", json={**PURCHASE, "amount": "1.00"})
    assert again.status_code == 202 and again.json["id"] == body["id"]
    assert again.json["amount"] == "1200.00"
    assert db.session.scalar(select(func.count(Purchase.id))) == 1


@pytest.mark.parametrize("change, field", [
    ({"amount": "-5"}, "amount"),
    ({"amount": "0"}, "amount"),
    ({"amount": "lots"}, "amount"),
    ({"currency": "XYZ"}, "currency"),
    ({"email": "not-an-email"}, "email"),
    ({"purchased_at": "yesterday"}, "purchased_at"),
    ({"referral_code": "NOSUCH99"}, "referral_code"),
])
def test_post_purchase_invalid_fields_are_422(db, make_user, api, change, field):
    response = api(make_user("admin")).post("/api/v1/purchases", json={**PURCHASE, **change})
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert error["code"] == "invalid" and list(error["fields"]) == [field]
    assert db.session.scalar(select(func.count(Purchase.id))) == 0


def test_only_the_billing_admin_posts_purchases(db, make_user, api):
    for role in ("marketing", "referrer"):
        assert api(make_user(role)).post("/api/v1/purchases", json=PURCHASE).status_code == 403


@pytest.fixture
def ledger(db, make_user):
    """Two referrers with one pending reward each, and a marketer."""
    prog = f.program(rules=[rule(), rule("give", "won", amount="20")])
    ann, bob = make_user("referrer"), make_user("referrer")
    mine = rewards.fire(f.lead(prog, ann).referral.id, "won")
    theirs = rewards.fire(f.lead(prog, bob).referral.id, "won")
    db.session.commit()
    return {"ann": ann, "bob": bob, "marketing": make_user("marketing"), "ann_rewards": mine,
            "bob_rewards": theirs}


def test_a_referrer_sees_only_their_own_rewards(ledger, api):
    response = api(ledger["ann"]).get("/api/v1/rewards?per_page=1")
    assert response.status_code == 200
    body = response.json
    assert (body["total"], body["page"], body["per_page"], len(body["items"])) == (2, 1, 1, 1)
    ids = {r.id for r in ledger["ann_rewards"]}
    both = api(ledger["ann"]).get("/api/v1/rewards").json["items"]
    assert {item["id"] for item in both} == ids
    item = both[0]
    assert set(item) >= {"side", "status", "amount", "currency", "trigger", "referral_id"}
    other = ledger["bob_rewards"][0].id
    assert api(ledger["ann"]).get(f"/api/v1/rewards/{other}").status_code == 404
    assert api(ledger["marketing"]).get("/api/v1/rewards").json["total"] == 4


def test_marketing_approves_rejects_and_issues(ledger, api):
    marketing = api(ledger["marketing"])
    get, give = ledger["ann_rewards"]
    approved = marketing.post(f"/api/v1/rewards/{get.id}/approve")
    assert approved.status_code == 200, approved.json
    assert (approved.json["status"], approved.json["amount"], approved.json["currency"],
            approved.json["side"], approved.json["trigger"]) == \
        ("approved", "100.00", "USD", "get", "won")
    issued = marketing.post(f"/api/v1/rewards/{get.id}/issue")
    assert issued.status_code == 200 and issued.json["status"] == "issued"
    conflict = marketing.post(f"/api/v1/rewards/{get.id}/approve")
    assert conflict.status_code == 409
    assert conflict.json["error"]["code"] == "invalid_transition"
    missing_reason = marketing.post(f"/api/v1/rewards/{give.id}/reject", json={})
    assert missing_reason.status_code == 422 and "reason" in missing_reason.json["error"]["fields"]
    rejected = marketing.post(f"/api/v1/rewards/{give.id}/reject", json={"reason": "duplicate"})
    assert rejected.json["status"] == "rejected" and rejected.json["reason"] == "duplicate"
    assert marketing.post("/api/v1/rewards/999999/approve").status_code == 404


def test_issue_inside_the_hold_period_is_409(db, make_user, api):
    prog = f.program(rules=[rule(hold_days=10, requires_approval=False)])
    (reward,) = rewards.fire(f.lead(prog, make_user("referrer")).referral.id, "won")
    db.session.commit()
    response = api(make_user("marketing")).post(f"/api/v1/rewards/{reward.id}/issue")
    assert response.status_code == 409 and response.json["error"]["code"] == "hold_period"


@pytest.mark.parametrize("action, body", [("approve", None), ("reject", {"reason": "x"}),
                                          ("issue", None), ("void", {"reason": "x"})])
def test_a_referrer_calling_marketing_endpoints_is_403(ledger, api, action, body):
    own = ledger["ann_rewards"][0]
    response = api(ledger["ann"]).post(f"/api/v1/rewards/{own.id}/{action}", json=body)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"
    assert reward_states.locked(own.id).status == "pending"


def test_refund_by_api_claws_back(db, make_user, api):
    prog = f.program(rules=[rule("get", "purchase", hold_days=30, requires_approval=False)])
    lead = f.lead(prog, make_user("referrer"), email="r@acme.example")
    db.session.commit()
    billing = api(make_user("admin"))
    posted = billing.post("/api/v1/purchases", json={**PURCHASE, "email": "r@acme.example",
                                                     "purchased_at": None})
    assert posted.status_code == 422  # purchased_at is required
    billing.post("/api/v1/purchases", json={**PURCHASE, "email": "r@acme.example",
                                            "purchased_at": lead.received_at.isoformat()})
    purchase_jobs.match(db.session.scalar(select(Purchase.id)))
    response = billing.post("/api/v1/purchases/inv-100/refund", json={})
    assert response.status_code == 202 and response.json["refunded_at"]
    assert rewards.rewards_of_referral(lead.referral_id)[0].status == "void"
    assert billing.post("/api/v1/purchases/nope/refund", json={}).status_code == 404
