"""seed-demo is believable (every stage, attempts, rewards, six months) and idempotent."""
from datetime import timedelta

from sqlalchemy import func, select

from referral_app.models import Agreement, Attempt, Lead, Program, Reward, SlaClock, User
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
    # The agreements the leads were worked under were in force before the first of them.
    assert db.session.scalar(select(func.max(Agreement.effective_at))) < oldest
    statuses = set(db.session.scalars(select(SlaClock.status).distinct()))
    assert {"met", "breached"} <= statuses


def test_each_demo_lead_tells_one_consistent_story(cli, db):
    """Scores come from the demo's MQL definition with the rules that gave them; a lead past
    "new" met it on arrival; a recycled lead used every attempt allowed without a conversation
    (as leads.log_attempt recycles it), and a lead closed otherwise reached someone first."""
    from referral_app.models import LeadEvent
    from referral_app.services.qualification import definition_for

    cli.invoke(args=["seed-demo"])
    leads = db.session.scalars(select(Lead)).all()
    for lead in leads:
        assert lead.score == sum(rule["points"] for rule in lead.score_rules), lead.id
        threshold = definition_for(lead.product).threshold
        assert (lead.score >= threshold) == (lead.stage != "new"), (lead.id, lead.stage)
        attempts = db.session.scalars(select(Attempt).where(Attempt.lead_id == lead.id)
                                      .order_by(Attempt.at)).all()
        outcomes = [a.outcome for a in attempts]
        if lead.stage == "recycled":
            event = db.session.scalar(select(LeadEvent).where(
                LeadEvent.lead_id == lead.id, LeadEvent.kind == "stage",
                LeadEvent.to_stage == "recycled"))
            assert len(attempts) == lead.agreement.max_attempts and "connected" not in outcomes
            assert event.at == attempts[-1].at and "without a connected outcome" in event.reason
            assert attempts[-1].at - lead.received_at < timedelta(
                days=lead.agreement.attempt_window_days)
        elif lead.stage in ("sql", "opportunity", "won", "lost", "rejected"):
            assert outcomes[-1] == "connected", (lead.id, lead.stage, outcomes)
    # Each lead was given to its rep on arrival, as intake does: the timeline says so.
    assigned = db.session.scalars(select(LeadEvent).where(LeadEvent.kind == "assign")).all()
    assert sorted(e.lead_id for e in assigned) == sorted(lead.id for lead in leads)
    assert all(e.data["to_owner"] == e.lead.owner_id and e.data["from_owner"] is None
               and e.at == e.lead.received_at for e in assigned)
    held = db.session.scalars(select(Reward).where(Reward.status == "held")).all()
    assert held and {r.referral.ip for r in held} == {"203.0.113.7"}  # "many referees from one IP"
    moved = db.session.scalars(select(LeadEvent).where(LeadEvent.kind == "stage",
                                                       LeadEvent.to_stage == "mql")).all()
    assert moved and all(e.actor_id is None and e.data["score"] >= 50 for e in moved)
