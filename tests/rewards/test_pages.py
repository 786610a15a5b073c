"""Web pages: marketing's review queue with evidence and one-click decisions, the referrer's list."""
import io
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from referral_app.models import CsvImport, Purchase, Reward, WebhookSubscription
from referral_app.services import conversion, reward_states, rewards
from tests import factories as f
from tests.conftest import sign_in
from tests.rewards.conftest import rule


def test_review_page_shows_held_rewards_with_evidence_and_approves_in_one_click(
        db, client, make_user):
    prog = f.program(rules=[rule()], name="Friends of Widget")
    referrer = make_user("referrer", email="ann@corp.example")
    (held,) = rewards.fire(f.lead(prog, referrer, email="x@mailinator.com").referral.id, "won")
    (pending,) = rewards.fire(f.lead(prog, referrer).referral.id, "won")
    db.session.commit()
    sign_in(client, make_user("marketing"))
    page = client.get("/rewards/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'id="reward-{held.id}"' in html and "Friends of Widget" in html
    assert "disposable e-mail" in html and "mailinator.com" in html  # the evidence
    # In the team's words, not the referrer's ("when they become a customer").
    assert "to the referrer, when the referee became a customer" in html
    assert f'id="reward-{pending.id}"' not in html  # the held tab comes first
    assert "style=" not in html and "<script>" not in html  # strict CSP
    response = client.post(f"/rewards/{held.id}/approve", data={"back": "held"})
    assert response.status_code == 302 and "status=held" in response.location
    assert reward_states.locked(held.id).status == "approved"
    approved_tab = client.get("/rewards/?status=approved").get_data(as_text=True)
    assert f'/rewards/{held.id}/issue' in approved_tab and f'/rewards/{held.id}/void' in approved_tab
    client.post(f"/rewards/{pending.id}/reject", data={"reason": "not eligible", "back": "pending"})
    assert reward_states.locked(pending.id).reason == "not eligible"
    again = client.post(f"/rewards/{pending.id}/approve")
    assert "cannot become approved" in client.get(again.location).get_data(as_text=True)
    tab = client.get("/rewards/?status=rejected").get_data(as_text=True)
    assert f'id="reward-{pending.id}"' in tab


def test_referrer_reward_page_shows_status_reason_and_coupons(db, client, make_user):
    prog = f.program(rules=[rule(cap_per_referrer=1, requires_approval=False),
                            rule("give", "won", amount="20", requires_approval=False)],
                     name="Friends")
    referrer = make_user("referrer")
    first = rewards.fire(f.lead(prog, referrer, name="Jane Roe").referral.id, "won")
    second = rewards.fire(f.lead(prog, referrer, name="Jim Poe").referral.id, "won")
    coupon = reward_states.issue(first[1].id).coupon_code
    rewards.fire(f.lead(prog, make_user("referrer"), name="Someone Else").referral.id, "won")
    db.session.commit()
    assert second[0].reason == "cap_reached"
    sign_in(client, referrer)
    html = client.get("/rewards/mine").get_data(as_text=True)
    assert "Jane Roe" in html and "Jim Poe" in html and "Someone Else" not in html
    assert "yearly limit" in html  # cap_reached, in words
    assert coupon in html and "$100" in html
    assert client.get("/rewards/").status_code == 403  # not the marketing queue


def test_payouts_page_creates_a_batch_and_downloads_its_csv(db, client, make_user):
    prog = f.program(rules=[rule(requires_approval=False)])
    (reward,) = rewards.fire(f.lead(prog, make_user("referrer")).referral.id, "won",
                             at=datetime(2026, 3, 1, tzinfo=UTC))
    reward_states.issue(reward.id, at=datetime(2026, 3, 2, tzinfo=UTC))
    db.session.commit()
    sign_in(client, make_user("marketing"))
    assert "1 reward" in client.get("/rewards/payouts").get_data(as_text=True)
    made = client.post("/rewards/payouts", data={"period_start": "2026-03-01",
                                                 "period_end": "2026-03-31"})
    assert made.status_code == 302
    batch_id = db.session.scalar(select(Reward.payout_batch_id))
    # buffered: the streamed body is read inside the request context (as a server would).
    csv_response = client.get(f"/rewards/payouts/{batch_id}.csv", buffered=True)
    assert csv_response.status_code == 200 and csv_response.mimetype == "text/csv"
    lines = csv_response.get_data(as_text=True).splitlines()
    assert lines[0].startswith("batch_id,reward_id") and len(lines) == 2
    empty = client.post("/rewards/payouts", data={"period_start": "2026-03-01",
                                                  "period_end": "2026-03-31"})
    assert "waiting for a payout" in empty.get_data(as_text=True)


def test_purchases_page_matches_by_hand_and_uploads_a_csv(db, client, make_user):
    prog = f.program(rules=[rule("get", "purchase")])
    lead = f.lead(prog, make_user("referrer"), email="old@acme.example",
                  received_at=datetime.now(UTC) - timedelta(days=400))
    purchase, _ = conversion.record_purchase("inv-9", "cto@acme.example", 500, "USD",
                                             datetime.now(UTC))
    db.session.commit()
    sign_in(client, make_user("marketing"))
    html = client.get("/rewards/purchases").get_data(as_text=True)
    assert "inv-9" in html and "last referral wins" in html
    assert f'value="{lead.referral_id}"' in html  # suggested: same company domain
    client.post(f"/rewards/purchases/{purchase.id}/match", data={"referral_id": lead.referral_id})
    db.session.refresh(purchase)
    assert (purchase.status, purchase.matched_by) == ("matched", "manual")
    upload = ("external_id,email,amount,currency,purchased_at,referral_code\n"
              "inv-10,a@b.example,10.00,USD,2026-05-01T00:00:00Z,\n"
              "inv-9,dup@b.example,10.00,USD,2026-05-01T00:00:00Z,\n"
              "inv-11,a@b.example,-1,USD,2026-05-01T00:00:00Z,\n")
    response = client.post("/rewards/purchases/upload", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(upload.encode()), "june.csv")})
    assert response.status_code == 302
    job = db.session.scalar(select(CsvImport).where(CsvImport.kind == "purchases"))
    from referral_app.jobs import purchases as purchase_jobs

    assert purchase_jobs.import_csv(job.id) == "done"
    db.session.refresh(job)
    assert (job.created, job.duplicates, job.invalid) == (1, 1, 1)
    assert db.session.scalar(select(Purchase).where(Purchase.external_id == "inv-10")) is not None


def test_webhook_admin_pages(db, client, make_user):
    sign_in(client, make_user("admin"))
    bad = client.post("/rewards/webhooks", data={"url": "ftp://x", "events": []})
    assert bad.status_code == 200 and "Choose at least one event" in bad.get_data(as_text=True)
    made = client.post("/rewards/webhooks", data={"url": "https://crm.example/hook",
                                                  "events": ["reward.issued", "sla.breached"]})
    assert made.status_code == 302
    sub = db.session.scalar(select(WebhookSubscription))
    assert sub.events == ["sla.breached", "reward.issued"] and len(sub.secret) == 64
    log = client.get(f"/rewards/webhooks/{sub.id}").get_data(as_text=True)
    assert sub.secret in log and "Nothing delivered yet" in log
    client.post(f"/rewards/webhooks/{sub.id}/pause")
    db.session.refresh(sub)
    assert sub.active is False


def test_webhook_admin_is_for_admins_only(db, client, make_user):
    sign_in(client, make_user("marketing"))
    assert client.get("/rewards/webhooks").status_code == 403
    assert client.get("/rewards/").status_code == 200
