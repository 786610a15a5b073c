"""seed-demo is believable (every stage, attempts, rewards, six months) and idempotent."""
from datetime import timedelta

from sqlalchemy import func, select

from referral_app.models import Attempt, Lead, Program, Reward, SlaClock, User
from referral_app.models.base import utcnow
from referral_app.models.lead import STAGES


def _counts(db):
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m))
            for m in (User, Program, Lead, Attempt, Reward, SlaClock)}


def test_seed_demo_twice_changes_nothing(cli, db):
    first = cli.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    after_first = _counts(db)
    assert after_first["Program"] == 3 and after_first["User"] >= 18
    assert after_first["Lead"] >= 300 and after_first["Attempt"] > 0 and after_first["Reward"] > 0
    assert after_first["SlaClock"] == after_first["Lead"]
    second = cli.invoke(args=["seed-demo"])
    assert second.exit_code == 0 and "already present" in second.output
    assert _counts(db) == after_first
    assert "maya@demo.interlock" in first.output


def test_demo_history_covers_every_stage_over_six_months(cli, db):
    cli.invoke(args=["seed-demo"])
    stages = set(db.session.scalars(select(Lead.stage).distinct()))
    assert stages == set(STAGES)
    oldest = db.session.scalar(select(func.min(Lead.received_at)))
    assert utcnow() - oldest > timedelta(days=150)
    statuses = set(db.session.scalars(select(SlaClock.status).distinct()))
    assert {"met", "breached"} <= statuses
