"""The world the authorization matrix probes: a user and token per persona, one object of each
kind owned by a known persona, and the URL value of each (tests/trust/matrix.py names them)."""
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from werkzeug.security import generate_password_hash

from referral_app.extensions import db
from referral_app.models import (
    Agreement,
    ApiToken,
    CsvImport,
    PayoutBatch,
    Purchase,
    RejectionReason,
    Reward,
    User,
    WebhookDelivery,
    WebhookSubscription,
)
from tests import factories as f

PASSWORD = "correct horse"
_HASH = {}  # one scrypt hash for every persona: hashing is the slow part of making users

@dataclass
class World:
    users: dict  # persona -> User
    tokens: dict  # persona -> plain API token
    ids: dict  # object key -> URL value


def _user(role, email, kind=None, **fields) -> User:
    if "hash" not in _HASH:
        _HASH["hash"] = generate_password_hash(PASSWORD, method="scrypt")
    row = User(email=email, role=role, kind=kind, name=fields.pop("name", email.split("@")[0]),
               password_hash=_HASH["hash"], **fields)
    db.session.add(row)
    db.session.flush()
    return row


def _token(user: User) -> str:
    token, plain = ApiToken.issue(user, "matrix")
    db.session.add(token)
    return plain


def build_world(instance_path: str, secret_key: str) -> World:
    """Every persona with a token, and one object of each kind, owned by a known persona."""
    from referral_app.services.privacy import withdrawal_token

    manager = _user("sales_manager", "manager@matrix.example", name="Mara Manager")
    users = {
        "customer": _user("referrer", "customer@matrix.example", kind="customer",
                          name="Cora Customer"),
        "partner": _user("referrer", "partner@matrix.example", kind="partner",
                         name="Pat Partner", company="Partner Co"),
        "rep": _user("sales", "rep@matrix.example", product="Widget", manager_id=manager.id,
                     name="Rita Rep"),
        "rep2": _user("sales", "rep2@matrix.example", product="Widget", manager_id=manager.id,
                      name="Rob Rep"),
        "manager": manager,
        "marketing": _user("marketing", "marketing@matrix.example", name="Mo Marketing"),
        "admin": _user("admin", "admin@matrix.example", name="Ada Admin"),
    }
    tokens = {persona: _token(user) for persona, user in users.items()}
    cal = f.calendar(name="matrix-cal")
    f.agreement("Widget", cal)
    draft_agreement = Agreement(product="Widget", version=2, status="draft", calendar_id=cal.id)
    db.session.add(draft_agreement)
    program = f.program(slug="matrix", rules=[("give", "submitted", "percent", 20),
                                              ("get", "won", "fixed", 100)])
    draft = f.program(slug="matrix-draft", status="draft")
    code = f.code(users["customer"], program)
    f.code(users["partner"], program)
    lead_rep = f.lead(program, users["customer"], users["rep"], email="one@prospect.example")
    lead_rep.referral.code_id = code.id
    lead_rep2 = f.lead(program, users["partner"], users["rep2"], email="two@prospect.example")
    withdrawing = f.lead(program, email="withdraw@prospect.example")
    get_rule = program.rules[1]
    rewards = {}
    for persona, lead in (("customer", lead_rep), ("partner", lead_rep2)):
        reward = Reward(rule_id=get_rule.id, referral_id=lead.referral_id, program_id=program.id,
                        referrer_id=users[persona].id, side="get", trigger="won",
                        status="pending", kind="fixed", amount=Decimal("100.00"), currency="USD")
        db.session.add(reward)
        rewards[persona] = reward
    folder = Path(instance_path) / "matrix"
    folder.mkdir(parents=True, exist_ok=True)
    upload, report = folder / "upload.csv", folder / "report.csv"
    upload.write_text("name,email\nAnn,ann@prospect.example\n")
    report.write_text("row,result\n1,created\n")
    csv_import = CsvImport(kind="referrals", program_id=program.id, user_id=users["marketing"].id,
                           filename="upload.csv", stored_path=str(upload), status="mapping",
                           report_path=str(report))
    purchase = Purchase(external_id="matrix-purchase-1", email="buyer@prospect.example",
                        amount=Decimal("50.00"), currency="USD",
                        purchased_at=datetime(2026, 1, 2, tzinfo=UTC))
    batch = PayoutBatch(period_start=datetime(2026, 1, 1, tzinfo=UTC),
                        period_end=datetime(2026, 2, 1, tzinfo=UTC))
    subscription = WebhookSubscription(url="https://hooks.matrix.example/in",
                                       events=["referral.created"], secret="s3cret")
    reason = RejectionReason(kind="reject", label="Not a fit")
    spare, _ = ApiToken.issue(users["admin"], "spare")
    db.session.add_all([csv_import, purchase, batch, subscription, reason, spare])
    db.session.flush()
    delivery = WebhookDelivery(subscription_id=subscription.id, event="referral.created",
                               payload={}, status="failed")
    db.session.add(delivery)
    db.session.commit()
    ids = {
        "program_slug": program.slug, "draft_slug": draft.slug, "code": code.code,
        "lead_rep": lead_rep.id, "lead_rep2": lead_rep2.id,
        "referral_customer": lead_rep.referral_id, "referral_partner": lead_rep2.referral_id,
        "reward_customer": rewards["customer"].id, "reward_partner": rewards["partner"].id,
        "draft_agreement": draft_agreement.id, "csv_import": csv_import.id,
        "purchase": purchase.id, "purchase_external_id": purchase.external_id,
        "batch": batch.id, "subscription": subscription.id, "delivery": delivery.id,
        "reason": reason.id, "spare_token": spare.id,
        # A user whose page admins open; the matrix's empty POST changes nothing (no role).
        "some_user": users["partner"].id, "rep_user": users["rep"].id,
        "withdraw_token": withdrawal_token(secret_key, withdrawing.email),
    }
    return World(users, tokens, ids)
