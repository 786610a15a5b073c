"""Lead.stages_entered (kept as events are written) gives the funnel its old, event-read rows."""
from sqlalchemy import func, select

from referral_app.models import Lead, LeadEvent, Referral
from referral_app.models.lead import STAGE_BITS
from referral_app.services.reports.common import (
    MAIN_PATH,
    SIDE_EXITS,
    cohort,
    depth_of,
    flag,
    per_lead_stages,
)


def _from_events(period):
    """The funnel's per-lead rows as they were read before: every event of every lead."""
    reached = [func.max(flag(LeadEvent.to_stage == stage)) for stage in MAIN_PATH + SIDE_EXITS]
    stmt = (select(Lead.id, Lead.program_id, Lead.owner_id, Lead.referral_id, Lead.amount,
                   func.max(depth_of(LeadEvent.to_stage)), *reached, Referral.referrer_id)
            .join(LeadEvent, LeadEvent.lead_id == Lead.id)
            .join(Referral, Referral.id == Lead.referral_id)
            .group_by(Lead.id, Lead.program_id, Lead.owner_id, Lead.referral_id, Lead.amount,
                      Referral.referrer_id))
    return sorted(tuple(r) for r in _all(cohort(stmt, period)))


def _all(stmt):
    from referral_app.extensions import db

    return db.session.execute(stmt).all()


def test_per_lead_rows_equal_the_event_read_ones(world, period, db):
    stored = per_lead_stages(period)
    rows = sorted(tuple(r) for r in _all(select(stored)))
    assert len(rows) >= 5 and any(r[5] == 4 for r in rows) and any(r[7] for r in rows)
    assert all(r[-1] is not None for r in rows)  # the referrer, copied from the referral
    assert rows == _from_events(period)


def test_bits_are_set_once_by_any_event_written(world, db):
    lead = db.session.scalars(select(Lead).where(Lead.stage == "won")).first()
    before = lead.stages_entered
    assert before & STAGE_BITS["new"] and before & STAGE_BITS["won"]
    db.session.add(LeadEvent(lead_id=lead.id, kind="assign", from_stage="won", to_stage="won"))
    db.session.commit()
    assert lead.stages_entered == before  # nothing new: no change
    fresh = db.session.scalars(select(Lead).where(Lead.stage == "new")).first()
    stamp = fresh.updated_at
    db.session.add(LeadEvent(lead_id=fresh.id, kind="stage", from_stage="new", to_stage="lost"))
    db.session.commit()
    db.session.expire_all()
    assert fresh.stages_entered & STAGE_BITS["lost"] and fresh.stages_entered & STAGE_BITS["new"]
    assert fresh.updated_at == stamp  # a report column, not an edit
