"""Cohort days: the funnel, leaderboards and rejection reasons read from rolled-up days give
the figures measured from the leads, and a lead changed since is read live."""
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import delete, select, update

from referral_app.models import ClosingDay, CohortDay, Lead, Purchase, Reward
from referral_app.services import reports, reward_states
from referral_app.services.reports import cohort_days
from tests.reports.conftest import NOW


def funnel_figures(f) -> tuple:
    c = f.counts
    return (c.leads, c.reached, c.entered, c.won_value, f.purchases, f.purchase_revenue,
            f.reward_cost)


def board_figures(b) -> dict:
    return {key: [(e.id, e.leads, e.count) for e in entries] for key, entries in b.boards.items()}


def reason_figures(r) -> list:
    return [(x.program_id, x.kind, x.reason, x.count, x.share,
             [(e.lead_id, e.company, e.note) for e in x.examples]) for x in r.reasons]


def everything(period, world) -> list:
    alpha = world.programs["Alpha"]
    return [funnel_figures(reports.funnel(period)),
            funnel_figures(reports.funnel(period, program=alpha)),
            funnel_figures(reports.funnel(period, product="Widget")),
            board_figures(reports.leaderboards(period, min_volume=1)),
            reason_figures(reports.rejections(period)),
            reason_figures(reports.rejections(period, program=alpha))]


@pytest.fixture
def settled(db, world):
    """The world as a bulk load leaves it: nothing touched since."""
    db.session.execute(update(Lead).values(touched_at=None))
    db.session.commit()
    return world


def roll_up(db) -> int:
    written = cohort_days.roll_up(NOW)
    db.session.commit()
    return written


def test_rolled_up_days_give_the_measured_figures(db, settled, period):
    measured = everything(period, settled)
    assert measured[0][0] == 7  # the hand-computed funnel (test_figures) still holds
    assert roll_up(db) == 100  # 31 December 2025 to 9 April 2026, New York
    plan = cohort_days.plan(period)
    assert plan is not None and plan.live is None and plan.excluded == []
    rows = db.session.scalars(select(CohortDay).where(CohortDay.grain == "program",
                                                      CohortDay.day == date(2026, 1, 5))).all()
    assert [(r.leads, r.reached_won, r.won_value, r.purchases, r.reward_cost) for r in rows] \
        == [(1, 1, Decimal("1000.00"), 1, Decimal("100.00"))]
    assert db.session.scalar(select(ClosingDay.reason).where(ClosingDay.kind == "rejected")) \
        == "No budget"
    assert everything(period, settled) == measured


def test_a_period_partly_rolled_up_reads_the_rest_live(db, settled):
    april = reports.Period(date(2026, 3, 15), date(2026, 4, 30), "America/New_York")
    measured = everything(april, settled)
    roll_up(db)
    plan = cohort_days.plan(april)
    assert plan.live is not None and len(plan.live.ranges) == 1  # from 10 April on
    assert everything(april, settled) == measured


def test_a_reward_changed_since_is_read_live_then_rolled_up(db, settled, period):
    roll_up(db)
    pending = db.session.scalar(select(Reward).where(Reward.status == "pending"))
    before = reports.funnel(period).reward_cost
    reward_states.approve(pending.id)  # L2's 50: now it costs money
    db.session.commit()
    assert reports.funnel(period).reward_cost == before + Decimal("50.00")
    assert cohort_days.plan(period).excluded == [date(2026, 1, 6)]
    assert roll_up(db) == 1
    assert reports.funnel(period).reward_cost == before + Decimal("50.00")
    db.session.execute(delete(CohortDay))
    db.session.commit()
    assert reports.funnel(period).reward_cost == before + Decimal("50.00")


def test_another_zone_is_measured_live(db, settled, period):
    utc_period = reports.Period(period.start, period.end, "UTC")
    measured = everything(utc_period, settled)
    roll_up(db)
    assert cohort_days.plan(utc_period) is None
    assert everything(utc_period, settled) == measured


def test_a_purchase_moved_to_another_referral_touches_both_leads(db, settled, period):
    roll_up(db)
    l7, l8 = settled.leads["L7"], settled.leads["L8"]
    purchase = db.session.scalar(select(Purchase).where(Purchase.referral_id == l8.referral_id))
    purchase.referral_id = l7.referral_id
    db.session.commit()
    assert cohort_days.plan(period).excluded == [date(2026, 1, 20), date(2026, 3, 2)]
    moved = everything(period, settled)
    # The next pass redoes just those two days, with leads received between them: the days
    # between are in its span but not its to redo (they once made it fail).
    assert roll_up(db) == 2
    assert everything(period, settled) == moved
    db.session.execute(delete(CohortDay))
    db.session.commit()
    assert everything(period, settled) == moved
