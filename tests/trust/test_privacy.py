"""Privacy: withdraw consent from the e-mail link; admin export and erasure keep the figures."""
import json

from sqlalchemy import func, select

from referral_app.models import Lead, Notification, Referral
from referral_app.services.notify import notify
from referral_app.services.privacy import withdrawal_token
from tests import factories as f
from tests.conftest import sign_in


def test_every_referee_email_carries_a_working_withdraw_link(app, db, client):
    prog = f.program()
    lead = f.lead(prog, email="ref@prospect.example")
    note = notify("coupon", "Your discount", "Here is 20% off.", email="ref@prospect.example")
    db.session.commit()
    assert "/privacy/withdraw/" in note.body
    path = note.body.split("http://127.0.0.1:5000")[-1].strip()
    page = client.get(path)
    assert page.status_code == 200 and b"ref@prospect.example" in page.data
    assert client.post(path).status_code == 200
    db.session.refresh(lead)
    assert lead.stage == "lost" and lead.referral.consent_withdrawn_at is not None


def test_a_forged_withdraw_token_is_404(app, client):
    forged = withdrawal_token("another-secret", "victim@example.com")
    assert client.get(f"/privacy/withdraw/{forged}").status_code == 404


def test_user_notifications_have_no_withdraw_footer(db, make_user):
    user = make_user("sales")
    note = notify("breach", "Overdue", "A lead is overdue.", user_id=user.id)
    assert "withdraw" not in note.body and note.email == user.email


def test_admin_exports_and_erases_an_address(app, db, client, make_user):
    prog = f.program()
    lead = f.lead(prog, email="gone@prospect.example", name="Gina Gone", stage="sql")
    lead.amount = 500
    db.session.add(Notification(kind="x", subject="s", body="hello Gina", email="gone@prospect.example"))
    db.session.commit()
    sign_in(client, make_user("admin"))
    exported = client.post("/privacy/admin/export", data={"export-email": "gone@prospect.example"})
    data = json.loads(exported.data)
    assert data["referrals"][0]["referee_name"] == "Gina Gone"
    assert data["leads"][0]["stage"] == "sql"
    erased = client.post("/privacy/admin/erase", data={"erase-email": "Gone@Prospect.example"})
    assert erased.status_code == 302
    referral = db.session.scalar(select(Referral))
    assert referral.referee_name == "erased" and "gone@" not in referral.referee_email
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 1  # figures kept
    assert db.session.scalar(select(Lead.amount)) == 500
    assert db.session.scalar(select(Notification.body)) == ""


def test_privacy_admin_is_admin_only(client, make_user):
    sign_in(client, make_user("marketing"))
    assert client.get("/privacy/admin").status_code == 403
    assert client.post("/privacy/admin/export", data={"export-email": "a@b.c"}).status_code == 403
