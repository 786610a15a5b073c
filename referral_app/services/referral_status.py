"""How referrers see their referrals: stages in customer words, first contact, rewards, totals."""
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from referral_app.extensions import db
from referral_app.models import Agreement, Lead, Program, Referral, Reward, User

# The lead's stage as the person who referred them would say it.
CUSTOMER_WORDS = {
    "new": "submitted", "mql": "submitted", "sql": "in conversation",
    "opportunity": "opportunity", "won": "became a customer",
    "lost": "not a fit", "rejected": "not a fit", "recycled": "not a fit",
}
TRIGGER_WORDS = {
    "submitted": "as soon as you refer them", "mql": "when they qualify",
    "sql": "when our sales team takes them on", "opportunity": "when a deal is opened",
    "won": "when they become a customer", "purchase": "when they buy",
}
EARNED = ("approved", "issued")
PENDING = ("pending", "held")


def customer_stage(stage: str | None) -> str:
    return CUSTOMER_WORDS.get(stage or "new", "submitted")


def open_programs(user: User) -> list[Program]:
    """The active programs open to this referrer's kind."""
    programs = db.session.scalars(select(Program).where(Program.status == "active")
                                  .options(selectinload(Program.rules)).order_by(Program.name))
    return [p for p in programs if user.kind in (p.referrer_kinds or [])]


def get_rewards(program: Program) -> list[dict]:
    """The referrer's side of the program's rewards: {kind, amount, currency, when}."""
    return [{"kind": rule.kind, "amount": rule.amount, "currency": rule.currency,
             "when": TRIGGER_WORDS.get(rule.trigger, rule.trigger)}
            for rule in program.rules if rule.side == "get" and rule.active]


def referrals_for(user: User) -> Select:
    """Referrals the user may list (a referrer's own; everyone's for marketing), newest first,
    with what their pages show loaded alongside."""
    query = (select(Referral)
             .options(selectinload(Referral.program), selectinload(Referral.rewards),
                      selectinload(Referral.lead).selectinload(Lead.agreement)
                      .selectinload(Agreement.calendar))
             .order_by(Referral.created_at.desc(), Referral.id.desc()))
    if user.role == "referrer":
        query = query.where(Referral.referrer_id == user.id)
    return query


def first_contact(lead: Lead | None) -> tuple[timedelta, bool] | None:
    """(time from referral to sales' first attempt, counted in business hours?) or None."""
    if lead is None or lead.first_attempt_at is None:
        return None
    calendar = lead.agreement.calendar if lead.agreement is not None else None
    if calendar is not None:
        return calendar.business().elapsed(lead.received_at, lead.first_attempt_at), True
    return max(lead.first_attempt_at - lead.received_at, timedelta(0)), False


def contact_words(lead: Lead | None) -> str | None:
    """'contacted 3 business hours after you referred', or None before the first attempt."""
    found = first_contact(lead)
    if found is None:
        return None
    elapsed, business = found
    kind = "business " if business else ""
    minutes = elapsed.total_seconds() / 60
    if minutes < 60:
        n = max(1, round(minutes))
        return f"contacted {n} {kind}minute{'s' if n != 1 else ''} after you referred"
    n = round(minutes / 60)
    return f"contacted {n} {kind}hour{'s' if n != 1 else ''} after you referred"


def _sums(referrer_id: int, statuses) -> dict[str, Decimal]:
    rows = db.session.execute(
        select(Reward.currency, func.sum(Reward.amount))
        .where(Reward.referrer_id == referrer_id, Reward.side == "get",
               Reward.status.in_(statuses))
        .group_by(Reward.currency).order_by(Reward.currency))
    return {currency: amount for currency, amount in rows if amount}


def totals(referrer_id: int) -> dict:
    """referred, converted (became a customer), earned and pending (money by currency),
    and the conversion rate (None before the first referral)."""
    referred = db.session.scalar(select(func.count(Referral.id))
                                 .where(Referral.referrer_id == referrer_id)) or 0
    # Leads carry their referral's referrer: counted on (referrer_id, stage) alone (through
    # the referrals, 13,000 lookups and 2.5 s cold for a big referrer at 1M leads).
    converted = db.session.scalar(
        select(func.count(Lead.id)).where(Lead.referrer_id == referrer_id,
                                          Lead.stage == "won")) or 0
    return {
        "referred": referred, "converted": converted,
        "earned": _sums(referrer_id, EARNED), "pending": _sums(referrer_id, PENDING),
        "conversion_rate": (Decimal(converted) / referred) if referred else None,
    }
