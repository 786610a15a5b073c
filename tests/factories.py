"""Builders for test data straight from the models (no services), committed by the caller."""
import itertools
from datetime import UTC, datetime
from decimal import Decimal

from referral_app.extensions import db
from referral_app.models import (
    Agreement,
    Calendar,
    Lead,
    LeadEvent,
    Program,
    Referral,
    ReferralCode,
    RewardRule,
    User,
)

_seq = itertools.count(1)

WEEKDAYS_9_TO_5 = {str(d): [["09:00", "17:00"]] for d in range(5)}


def calendar(name=None, timezone="America/New_York", hours=None, holidays=(), country=None):
    cal = Calendar(name=name or f"cal-{next(_seq)}", timezone=timezone,
                   hours=hours or WEEKDAYS_9_TO_5, holidays=list(holidays), country=country)
    db.session.add(cal)
    db.session.flush()
    return cal


def agreement(product="Widget", cal=None, **terms):
    cal = cal or calendar()
    values = dict(product=product, version=1, status="in_force", calendar_id=cal.id,
                  first_attempt_hours=Decimal("5"), first_attempt_clock="business",
                  max_attempts=4, attempt_window_days=16, decision_hours=Decimal("8"),
                  monthly_qualified_leads=75, min_acceptance_rate=Decimal("0.6"),
                  effective_at=datetime(2020, 1, 1, tzinfo=UTC))
    values.update(terms)
    row = Agreement(**values)
    db.session.add(row)
    db.session.flush()
    return row


def program(slug=None, product="Widget", status="active", kinds=("customer", "partner"),
            rules=(), **fields):
    """rules: tuples (side, trigger, kind, amount) or dicts of RewardRule fields."""
    n = next(_seq)
    row = Program(name=fields.pop("name", f"Program {n}"), slug=slug or f"program-{n}",
                  product=product, status=status, referrer_kinds=list(kinds),
                  share_message=fields.pop("share_message", "Try {product}: {link}"),
                  landing_headline=fields.pop("landing_headline", "You are invited"),
                  give_offer=fields.pop("give_offer", "20% off"), **fields)
    for rule in rules:
        if isinstance(rule, dict):
            row.rules.append(RewardRule(**{"currency": "USD", **rule}))
        else:
            side, trigger, kind, amount = rule
            row.rules.append(RewardRule(side=side, trigger=trigger, kind=kind,
                                        amount=Decimal(str(amount)), currency="USD"))
    db.session.add(row)
    db.session.flush()
    return row


def user(role="referrer", kind=None, email=None, **fields):
    n = next(_seq)
    if role == "referrer" and kind is None:
        kind = "customer"
    row = User(email=email or f"{role}-{n}@example.com", role=role, kind=kind,
               name=fields.pop("name", f"{role.title()} {n}"), **fields)
    row.set_password("correct horse")
    db.session.add(row)
    db.session.flush()
    return row


def code(referrer, prog):
    row = ReferralCode(code=f"C{next(_seq):06d}", program_id=prog.id, referrer_id=referrer.id)
    db.session.add(row)
    db.session.flush()
    return row


def lead(prog, referrer=None, owner=None, stage="new", email=None, received_at=None,
         **referee):
    """A referral and its lead, as intake would leave them (without clocks)."""
    n = next(_seq)
    at = received_at or datetime.now(UTC)
    email = email or f"referee{n}@prospect{n}.example"
    ref = Referral(program_id=prog.id, referrer_id=referrer.id if referrer else None,
                   source="portal", referee_name=referee.pop("name", f"Referee {n}"),
                   referee_email=email, consent_at=at, created_at=at,
                   referee_company=referee.pop("company", f"Prospect {n} Inc"), **referee)
    db.session.add(ref)
    db.session.flush()
    open_stage = stage in ("new", "mql", "sql", "opportunity")
    row = Lead(referral_id=ref.id, program_id=prog.id, product=prog.product,
               owner_id=owner.id if owner else None, stage=stage, is_open=open_stage,
               email=email, open_email=email if open_stage else None, received_at=at,
               assigned_at=at if owner else None)
    db.session.add(row)
    db.session.flush()
    db.session.add(LeadEvent(lead_id=row.id, from_stage=None, to_stage="new", at=at))
    if stage != "new":
        db.session.add(LeadEvent(lead_id=row.id, from_stage="new", to_stage=stage, at=at))
    db.session.flush()
    return row
