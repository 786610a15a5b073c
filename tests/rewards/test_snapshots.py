"""The nightly snapshot against a small data set computed by hand; idempotent upserts."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import time_machine
from sqlalchemy import func, select

from referral_app.jobs import snapshots as snapshot_jobs
from referral_app.models import DailySnapshot, LeadEvent, Purchase, Reward
from referral_app.services import snapshots
from tests import factories as f
from tests.rewards.conftest import rule

DAY = date(2026, 4, 14)


def t(hour, days=0):
    return datetime(2026, 4, 14, hour, tzinfo=UTC) + timedelta(days=days)


def purchase(ext, referral, at, amount, refunded=False):
    db_purchase = Purchase(external_id=ext, email="p@x.example", amount=Decimal(amount),
                           currency="USD", purchased_at=at, status="matched" if referral else
                           "unmatched", referral_id=referral.id if referral else None,
                           refunded_at=at + timedelta(days=1) if refunded else None)
    return db_purchase


def reward(prog, referral, status, amount, kind="fixed", at=None, side="get"):
    return Reward(rule_id=prog.rules[0].id, referral_id=referral.id, program_id=prog.id,
                  referrer_id=referral.referrer_id, side=side, trigger="won", status=status,
                  kind=kind, amount=Decimal(amount), currency="USD", created_at=at or t(15))


def build(db, program):
    """Program A on DAY (by hand):

    referrals made that day: r1, r2, r3 (r0 the day before)          -> referrals 3
    stage events that day: new r1 r2 r3; mql r1, r0; sql r1          -> new 3, mql 2, sql 1
    purchases that day: p1 (r1, 1000), p2 (r0, 500, refunded), p3 (unmatched, 70)
                                                                     -> purchases 1, revenue 1000
    r2 bought the next day (p4): r1 and r2 of that day converted     -> converted 2, 0.6667
    rewards created that day: approved 100, rejected 100 (cap), pending 20% (a discount)
                                                                     -> cost 100 (rejected free)
    Program B: nothing at all                                        -> a row of zeros
    """
    a = program(rule(), rule("give", "won", "percent", "20"))
    b = program()
    referrer = f.user()
    r0 = f.lead(a, referrer, received_at=t(10, -1)).referral
    r1, r2, r3 = (f.lead(a, referrer, received_at=t(9 + i)).referral for i in range(3))
    f.lead(b, referrer, received_at=t(12, -3))  # B: activity on another day only
    db.session.add_all([
        LeadEvent(lead_id=r1.lead.id, from_stage="new", to_stage="mql", at=t(13)),
        LeadEvent(lead_id=r1.lead.id, from_stage="mql", to_stage="sql", at=t(14)),
        LeadEvent(lead_id=r0.lead.id, from_stage="new", to_stage="mql", at=t(13)),
        LeadEvent(lead_id=r2.lead.id, from_stage="new", to_stage="mql", at=t(1, 1)),  # next day
        purchase("p1", r1, t(16), "1000"),
        purchase("p2", r0, t(16), "500", refunded=True),
        purchase("p3", None, t(16), "70"),
        purchase("p4", r2, t(10, 1), "300"),
    ])
    db.session.flush()
    db.session.add_all([
        reward(a, r1, "approved", "100"),
        reward(a, r2, "rejected", "100"),
        Reward(rule_id=a.rules[1].id, referral_id=r1.id, program_id=a.id, side="give",
               trigger="won", status="pending", kind="percent", amount=Decimal("20"),
               currency="USD", created_at=t(15)),
        reward(a, r3, "issued", "100", at=t(15, -2)),  # another day
    ])
    db.session.commit()
    return a, b


def test_snapshot_figures_match_the_hand_computed_day(db, program):
    a, b = build(db, program)
    assert snapshots.compute(DAY) == 2
    snap = snapshots.for_day(a.id, DAY)
    assert (snap.referrals, snap.purchases, snap.revenue) == (3, 1, Decimal("1000.00"))
    assert snap.stages == {"new": 3, "mql": 2, "sql": 1}
    assert snap.rewards == {"approved": {"n": 1, "cost": "100.00"},
                            "rejected": {"n": 1, "cost": "100.00"},
                            "pending": {"n": 1, "cost": "0.00"}}
    assert snap.reward_cost == Decimal("100.00")
    assert (snap.converted, snap.conversion) == (2, Decimal("0.6667"))
    empty = snapshots.for_day(b.id, DAY)
    assert (empty.referrals, empty.purchases, empty.revenue, empty.stages, empty.rewards,
            empty.conversion) == (0, 0, Decimal("0.00"), {}, {}, Decimal("0"))


def test_the_nightly_job_is_idempotent_and_picks_up_late_data(db, program):
    a, _ = build(db, program)
    with time_machine.travel(datetime(2026, 4, 15, 2, 30, tzinfo=UTC), tick=False):
        assert snapshot_jobs.nightly() == 14  # 2 programs × the last 7 days
        assert snapshot_jobs.nightly() == 14
    assert db.session.scalar(select(func.count(DailySnapshot.id))) == 14
    db.session.execute(Purchase.__table__.update().where(Purchase.external_id == "p3")
                       .values(status="matched", referral_id=db.session.scalar(
                           select(Reward.referral_id).where(Reward.status == "issued"))))
    db.session.commit()
    with time_machine.travel(datetime(2026, 4, 16, 2, 30, tzinfo=UTC), tick=False):
        snapshot_jobs.nightly()
    snap = snapshots.for_day(a.id, DAY)
    assert (snap.purchases, snap.revenue, snap.converted) == (2, Decimal("1070.00"), 3)
    assert db.session.scalar(select(func.count(DailySnapshot.id))) == 16
