"""seed-demo is believable and idempotent."""
from sqlalchemy import func, select

from referral_app.models import Lead, Program, User


def _counts(db):
    return {m.__name__: db.session.scalar(select(func.count()).select_from(m))
            for m in (User, Program, Lead)}


def test_seed_demo_twice_changes_nothing(cli, db):
    first = cli.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    after_first = _counts(db)
    assert after_first["Program"] == 3 and after_first["User"] >= 18
    second = cli.invoke(args=["seed-demo"])
    assert second.exit_code == 0 and "already present" in second.output
    assert _counts(db) == after_first
    assert "maya@demo.interlock" in first.output
