"""A small, hand-computed world for the reports (Q1 2026, New York, 9–17 on weekdays).

Leads (R1, R2 reps; C1, C2, C3 customers, P1 a partner; programs Alpha and Beta, product
Widget; first-attempt times in business hours):

  L1 Alpha C1 R1  Jan 5   mql, sql, opportunity, won 1000     first attempt 0.5 h (met)
  L2 Alpha C1 R1  Jan 6   skips MQL: sql, opportunity, lost   2 h (met)
  L3 Alpha C2 R2  Feb 2   mql, rejected "No budget"           8 h (breached)
  L4 Beta  P1 R2  Feb 10  mql, recycled, mql (Mar 2), sql     32 h (breached)
  L5 Beta  P1 R1  Mar 31 23:30 New York (Apr 1 UTC): mql       no attempt, overdue
  L6 Alpha C2 R1  Dec 31 2025: outside the period; mql, sql, won 9999   1 h (met)
  L7 Beta  C1 R2  Jan 20  stays new                           0.5 h (met)
  L8 Alpha C1 R1  Mar 2   jumps new → won 2000                3 h (met)
  L9 Beta  C2 R2  Dec 31 22:00 New York (Jan 1 UTC): outside; stays new   9 h (breached)

The expected figures are worked out by hand in the tests.
"""
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from referral_app.models import (
    LeadEvent,
    Purchase,
    ReferralCode,
    Reward,
    RewardRule,
    SlaClock,
    User,
)
from tests import factories

NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
Q1 = {"from": "2026-01-01", "to": "2026-03-31"}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass
class World:
    users: dict = field(default_factory=dict)
    programs: dict = field(default_factory=dict)
    leads: dict = field(default_factory=dict)
    agreement: object = None


def _lead(db, world, name, program, referrer, owner, received, path=(), amount=None, final=None):
    lead = factories.lead(world.programs[program], referrer=world.users[referrer],
                          owner=world.users[owner], received_at=received)
    lead.agreement_id = world.agreement.id
    previous = "new"
    for stage, at, *reason in path:
        db.session.add(LeadEvent(lead_id=lead.id, kind="stage", from_stage=previous,
                                 to_stage=stage, at=at, actor_id=world.users[owner].id,
                                 reason=reason[0] if reason else None,
                                 data={"note": reason[1]} if len(reason) > 1 else {}))
        previous = stage
    lead.stage = final or previous
    lead.is_open = lead.stage in ("new", "mql", "sql", "opportunity")
    lead.open_email = lead.email if lead.is_open else None
    lead.amount = amount
    world.leads[name] = lead
    return lead


def _clock(db, world, lead, kind, started, due, status, met=None, breached=None):
    db.session.add(SlaClock(lead_id=world.leads[lead].id, kind=kind,
                            agreement_id=world.agreement.id, owner_id=world.leads[lead].owner_id,
                            started_at=started, due_at=due, status=status, met_at=met,
                            breached_at=breached))


def _reward(db, world, lead, amount, status, kind="fixed", side="get"):
    lead = world.leads[lead]
    rule = RewardRule(program_id=lead.program_id, side=side, trigger="won", kind=kind,
                      amount=Decimal(amount), currency="USD")
    db.session.add(rule)
    db.session.flush()
    db.session.add(Reward(rule_id=rule.id, referral_id=lead.referral_id, program_id=lead.program_id,
                          referrer_id=world.users["C1"].id, side=side, trigger="won", kind=kind,
                          status=status, amount=Decimal(amount), currency="USD"))


def _purchase(db, world, lead, amount, refunded=None):
    lead = world.leads[lead]
    db.session.add(Purchase(external_id=f"inv-{lead.id}", email=lead.email, amount=Decimal(amount),
                            currency="USD", purchased_at=utc(2026, 3, 20), referral_id=lead.referral_id,
                            matched_by="code", status="matched", refunded_at=refunded))


@pytest.fixture
def world(db):
    w = World()
    long_ago = utc(2025, 6, 1)
    cal = factories.calendar(name="New York", timezone="America/New_York")
    w.agreement = factories.agreement(product="Widget", cal=cal, monthly_qualified_leads=10)
    w.programs = {"Alpha": factories.program(slug="alpha", name="Alpha"),
                  "Beta": factories.program(slug="beta", name="Beta")}
    for name, role, kind in (("R1", "sales", None), ("R2", "sales", None),
                             ("C1", "referrer", "customer"), ("C2", "referrer", "customer"),
                             ("C3", "referrer", "customer"), ("P1", "referrer", "partner")):
        # No password (hashing is slow): tests that sign in use make_user.
        w.users[name] = User(role=role, kind=kind, name=f"{name} Person",
                             email=f"{name.lower()}@example.com", created_at=long_ago,
                             product="Widget" if role == "sales" else None)
        db.session.add(w.users[name])
    db.session.flush()
    _lead(db, w, "L1", "Alpha", "C1", "R1", utc(2026, 1, 5, 14),
          [("mql", utc(2026, 1, 5, 15)), ("sql", utc(2026, 1, 6, 15)),
           ("opportunity", utc(2026, 1, 10, 15)), ("won", utc(2026, 1, 20, 15))], Decimal("1000"))
    _lead(db, w, "L2", "Alpha", "C1", "R1", utc(2026, 1, 6, 14),
          [("sql", utc(2026, 1, 7, 15)), ("opportunity", utc(2026, 1, 9, 15)),
           ("lost", utc(2026, 2, 1, 15), "Price")], Decimal("500"))
    _lead(db, w, "L3", "Alpha", "C2", "R2", utc(2026, 2, 2, 14),
          [("mql", utc(2026, 2, 2, 15)), ("rejected", utc(2026, 2, 3, 15), "No budget", "Too small")])
    _lead(db, w, "L4", "Beta", "P1", "R2", utc(2026, 2, 10, 14),
          [("mql", utc(2026, 2, 10, 15)), ("recycled", utc(2026, 2, 20, 15), "4 attempts"),
           ("mql", utc(2026, 3, 2, 15)), ("sql", utc(2026, 3, 3, 15))])
    _lead(db, w, "L5", "Beta", "P1", "R1", utc(2026, 4, 1, 3, 30), [("mql", utc(2026, 4, 1, 3, 45))])
    _lead(db, w, "L6", "Alpha", "C2", "R1", utc(2025, 12, 31, 12),
          [("mql", utc(2025, 12, 31, 13)), ("sql", utc(2026, 1, 2, 15)),
           ("won", utc(2026, 1, 15, 15))], Decimal("9999"))
    _lead(db, w, "L7", "Beta", "C1", "R2", utc(2026, 1, 20, 15))
    _lead(db, w, "L8", "Alpha", "C1", "R1", utc(2026, 3, 2, 15), [("won", utc(2026, 3, 5, 15))],
          Decimal("2000"))
    _lead(db, w, "L9", "Beta", "C2", "R2", utc(2026, 1, 1, 3))
    # An assignment event repeats the current stage: it must not change any count.
    db.session.add(LeadEvent(lead_id=w.leads["L4"].id, kind="assign", from_stage="mql",
                             to_stage="mql", at=utc(2026, 1, 25, 15)))

    h = timedelta(hours=1)
    _clock(db, w, "L1", "first_attempt", utc(2026, 1, 5, 14), utc(2026, 1, 5, 19), "met",
           met=utc(2026, 1, 5, 14, 30))
    _clock(db, w, "L2", "first_attempt", utc(2026, 1, 6, 14), utc(2026, 1, 6, 19), "met",
           met=utc(2026, 1, 6, 16))
    _clock(db, w, "L3", "first_attempt", utc(2026, 2, 2, 14), utc(2026, 2, 2, 19), "breached",
           met=utc(2026, 2, 3, 14), breached=utc(2026, 2, 2, 19))
    _clock(db, w, "L4", "first_attempt", utc(2026, 2, 10, 14), utc(2026, 2, 10, 19), "breached",
           met=utc(2026, 2, 16, 14), breached=utc(2026, 2, 10, 19))
    _clock(db, w, "L5", "first_attempt", utc(2026, 4, 1, 3, 30), utc(2026, 4, 1, 18), "running")
    _clock(db, w, "L6", "first_attempt", utc(2025, 12, 31, 12), utc(2025, 12, 31, 19), "met",
           met=utc(2025, 12, 31, 15))
    _clock(db, w, "L7", "first_attempt", utc(2026, 1, 20, 15), utc(2026, 1, 20, 20), "met",
           met=utc(2026, 1, 20, 15, 30))
    _clock(db, w, "L8", "first_attempt", utc(2026, 3, 2, 15), utc(2026, 3, 2, 20), "met",
           met=utc(2026, 3, 2, 18))
    _clock(db, w, "L9", "first_attempt", utc(2026, 1, 1, 3), utc(2026, 1, 1, 19), "breached",
           met=utc(2026, 1, 2, 15), breached=utc(2026, 1, 1, 19))
    _clock(db, w, "L1", "attempt_limit", utc(2026, 1, 5, 14, 30), utc(2026, 1, 21, 14, 30), "met",
           met=utc(2026, 1, 5, 14, 30) + h)
    _clock(db, w, "L4", "attempt_limit", utc(2026, 2, 16, 14), utc(2026, 3, 4, 14), "breached",
           breached=utc(2026, 3, 4, 14))
    _clock(db, w, "L3", "decision", utc(2026, 2, 3, 14), utc(2026, 2, 4, 17), "met",
           met=utc(2026, 2, 3, 15))
    _clock(db, w, "L7", "decision", utc(2026, 1, 20, 15), utc(2026, 1, 21, 20), "cancelled")

    _reward(db, w, "L1", "100", "issued")
    _reward(db, w, "L1", "20", "issued", kind="percent", side="give")  # a discount: no cost
    _reward(db, w, "L2", "50", "pending")
    _reward(db, w, "L8", "100", "approved")
    _reward(db, w, "L3", "25", "rejected")
    _reward(db, w, "L6", "100", "issued")  # outside the period
    _purchase(db, w, "L1", "1000")
    _purchase(db, w, "L8", "2000")
    _purchase(db, w, "L2", "500", refunded=utc(2026, 3, 25))
    _purchase(db, w, "L6", "9999")
    db.session.add(ReferralCode(code="ALPHAC1", program_id=w.programs["Alpha"].id,
                                referrer_id=w.users["C1"].id, visits=10, submissions=3))
    db.session.add(ReferralCode(code="BETAP1", program_id=w.programs["Beta"].id,
                                referrer_id=w.users["P1"].id, visits=5, submissions=2))
    db.session.commit()
    return w


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def period():
    from referral_app.services.reports import Period

    return Period(datetime(2026, 1, 1).date(), datetime(2026, 3, 31).date(), "America/New_York")
