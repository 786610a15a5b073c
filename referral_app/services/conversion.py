"""Referral-to-purchase conversion: record purchases, attribute them to referrals, refunds."""
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from referral_app.errors import Conflict, NotFound, ValidationFailed
from referral_app.extensions import db
from referral_app.jobs import enqueue_after_commit
from referral_app.models import Lead, LeadEvent, Program, Purchase, Referral, Reward
from referral_app.models.base import money, utcnow
from referral_app.services import coupons, reward_states, rewards, webhooks
from referral_app.services.codes import by_code
from referral_app.services.stages import can_move, change_stage

ATTRIBUTION_RULE = ("A purchase is matched by its referral code, else by the referee's e-mail, "
                    "else by the company's e-mail domain, to referrals made within the "
                    "program's attribution window before the purchase; the last referral wins.")

# Shared mail providers say nothing about the company: never match by these domains.
FREE_MAIL_DOMAINS = frozenset("""
gmail.com googlemail.com yahoo.com yahoo.co.uk ymail.com hotmail.com hotmail.co.uk outlook.com
live.com msn.com aol.com icloud.com me.com mac.com proton.me protonmail.com gmx.com gmx.de
gmx.net web.de mail.com yandex.com yandex.ru zoho.com fastmail.com hey.com qq.com 163.com
""".split())
CLAWBACK_TRIGGERS = ("purchase", "won")  # rewards earned by the sale a refund undoes


def by_external_id(external_id: str) -> Purchase | None:
    return db.session.scalar(select(Purchase).where(Purchase.external_id == external_id))


def known_code(code: str) -> bool:
    return by_code(code) is not None or coupons.reward_for_code(code) is not None


def record_purchase(external_id: str, email: str, amount, currency: str,
                    purchased_at: datetime, referral_code: str | None = None
                    ) -> tuple[Purchase, bool]:
    """Store a purchase from billing and queue its matching; (purchase, created).

    The same `external_id` again returns the stored purchase and changes nothing.
    """
    external_id = external_id.strip()
    existing = by_external_id(external_id)
    if existing is not None:
        return existing, False
    code = (referral_code or "").strip().upper() or None
    if code and not known_code(code):
        raise ValidationFailed("Unknown referral code.",
                               {"referral_code": [f"No referral or coupon code {code} exists."]})
    purchase = Purchase(external_id=external_id, email=email.strip().lower(),
                        amount=money(amount), currency=currency.upper(),
                        purchased_at=purchased_at, referral_code=code)
    try:
        with db.session.begin_nested():
            db.session.add(purchase)
            db.session.flush()
    except IntegrityError:
        return by_external_id(external_id), False  # the same purchase sent twice at once
    # No job id: ids restart with a fresh database while RQ keeps old job ids; the job
    # is idempotent, so a duplicate run changes nothing.
    enqueue_after_commit("referral_app.jobs.purchases.match", purchase.id)
    return purchase, True


def _in_window(query, purchase: Purchase) -> list[Referral]:
    """The query's referrals inside their program's window before the purchase, last first."""
    longest = db.session.scalar(select(func.max(Program.attribution_window_days))) or 0
    rows = db.session.execute(
        query.add_columns(Program.attribution_window_days)
        .join(Program, Program.id == Referral.program_id)
        .where(Referral.created_at <= purchase.purchased_at,
               Referral.created_at >= purchase.purchased_at - timedelta(days=longest))
        .order_by(Referral.created_at.desc(), Referral.id.desc()).limit(200)).all()
    return [ref for ref, days in rows
            if ref.created_at >= purchase.purchased_at - timedelta(days=days)]


def _domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


def _by_code(purchase: Purchase) -> Referral | None:
    coupon = coupons.reward_for_code(purchase.referral_code)
    if coupon is not None:
        found = _in_window(select(Referral).where(Referral.id == coupon.referral_id), purchase)
        return found[0] if found else None
    code = by_code(purchase.referral_code)
    if code is None:
        return None
    candidates = _in_window(select(Referral).where(or_(
        Referral.code_id == code.id,
        (Referral.program_id == code.program_id) & (Referral.referrer_id == code.referrer_id))),
        purchase)
    # Among the code's referrals prefer the buyer's own, then a colleague's, then the last.
    email = purchase.email.lower()
    for same in (lambda r: r.referee_email.lower() == email,
                 lambda r: _domain(r.referee_email) == _domain(email)):
        match = next((r for r in candidates if same(r)), None)
        if match is not None:
            return match
    return candidates[0] if candidates else None


def find_referral(purchase: Purchase) -> tuple[Referral | None, str | None]:
    """The referral a purchase is attributed to, and how: code, email or domain."""
    if purchase.referral_code:
        referral = _by_code(purchase)
        if referral is not None:
            return referral, "code"
    email = purchase.email.lower()
    # Referee e-mails are stored lower-cased: equality uses the index, lower() would not.
    found = _in_window(select(Referral).where(Referral.referee_email == email), purchase)
    if found:
        return found[0], "email"
    domain = _domain(email)
    if domain and domain not in FREE_MAIL_DOMAINS:
        found = _in_window(select(Referral).where(
            Referral.referee_email.endswith("@" + domain, autoescape=True)), purchase)
        if found:
            return found[0], "domain"
    return None, None


def match_purchase(purchase: Purchase) -> Referral | None:
    """Attribute an unmatched purchase automatically; None leaves it for marketing."""
    if purchase.status == "matched":
        return db.session.get(Referral, purchase.referral_id)
    referral, method = find_referral(purchase)
    if referral is not None:
        apply_match(purchase, referral, method)
    return referral


def match_manually(purchase_id: int, referral_id: int, actor_id: int) -> Purchase:
    """Marketing's match of an unmatched purchase to a referral they chose."""
    purchase = db.session.scalar(select(Purchase).where(Purchase.id == purchase_id)
                                 .with_for_update())
    referral = db.session.get(Referral, referral_id)
    if purchase is None:
        raise NotFound("No such purchase.")
    if referral is None:
        raise ValidationFailed("No such referral.", {"referral_id": ["No referral has this number."]})
    if purchase.status == "matched":
        raise Conflict("This purchase is already matched.", code="already_matched")
    apply_match(purchase, referral, "manual", actor_id)
    return purchase


def apply_match(purchase: Purchase, referral: Referral, method: str,
                actor_id: int | None = None) -> None:
    """Link the purchase, win the lead (recording the amount) and fire purchase/won rewards."""
    purchase.referral_id, purchase.matched_by, purchase.status = referral.id, method, "matched"
    lead = db.session.scalar(select(Lead).where(Lead.referral_id == referral.id))
    won_event = None
    if lead is not None and lead.stage != "won" and can_move(lead, "won"):
        last = db.session.scalar(select(func.max(LeadEvent.at)).where(LeadEvent.lead_id == lead.id))
        lead.amount = purchase.amount
        won_event = change_stage(lead, "won", actor_id, at=max(purchase.purchased_at, last or
                                                                purchase.purchased_at),
                                 reason="purchase", data={"purchase_id": purchase.id,
                                                          "external_id": purchase.external_id})
    elif lead is not None and lead.amount is None:
        lead.amount = purchase.amount
    db.session.flush()
    rewards.fire(referral.id, "purchase", at=purchase.purchased_at, purchase=purchase)
    if won_event is not None:  # the stage job fires them too; the ledger keeps one
        rewards.fire(referral.id, "won", at=won_event.at)
    webhooks.publish("purchase.matched", webhooks.purchase_payload(purchase),
                     key=f"purchase.matched:{purchase.id}")


def refund(purchase: Purchase, at: datetime | None = None,
           actor_id: int | None = None) -> list[Reward]:
    """Record a refund and claw back the sale's rewards still inside their hold period.

    Approved or issued rewards become `void`; pending or held ones are rejected; rewards
    past their hold period stand. A second refund of the same purchase changes nothing.
    """
    purchase = db.session.scalar(select(Purchase).where(Purchase.id == purchase.id)
                                 .with_for_update().execution_options(populate_existing=True))
    if purchase.refunded_at is not None:
        return []
    at = at or utcnow()
    purchase.refunded_at = at
    db.session.flush()
    if purchase.referral_id is None:
        return []
    changed = []
    for reward in db.session.scalars(select(Reward).where(
            Reward.referral_id == purchase.referral_id, Reward.trigger.in_(CLAWBACK_TRIGGERS),
            Reward.status.in_(("pending", "held", "approved", "issued")))).all():
        if reward.issuable_at is not None and at >= reward.issuable_at:
            continue
        to = "rejected" if reward.status in ("pending", "held") else "void"
        changed.append(reward_states.move(reward.id, to, actor_id, "refunded", at=at))
    return changed


def unmatched(limit: int = 50, offset: int = 0) -> list[Purchase]:
    return list(db.session.scalars(select(Purchase).where(Purchase.status == "unmatched")
                                   .order_by(Purchase.purchased_at.desc(), Purchase.id.desc())
                                   .limit(limit).offset(offset)))


def suggestions(purchase: Purchase, limit: int = 3) -> list[Referral]:
    """Referrals marketing may want for a manual match: same e-mail or company, any time."""
    email = purchase.email.lower()
    domain = _domain(email)
    same = Referral.referee_email == email
    if domain not in FREE_MAIL_DOMAINS:
        same = or_(same, Referral.referee_email.endswith("@" + domain, autoescape=True))
    return list(db.session.scalars(select(Referral).where(same)
                                   .order_by(Referral.created_at.desc()).limit(limit)))
