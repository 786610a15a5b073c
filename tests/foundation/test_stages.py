"""Stage moves: allowed ones record an event and enqueue follow-ups; others are refused."""
import pytest

from referral_app.errors import InvalidTransition
from referral_app.jobs.queues import pending_jobs
from referral_app.services.stages import TRANSITIONS, change_stage
from tests import factories as f


def test_every_allowed_move_records_an_event(db):
    prog = f.program()
    for from_stage, targets in TRANSITIONS.items():
        for to_stage in targets:
            lead = f.lead(prog, stage=from_stage)
            event = change_stage(lead, to_stage, reason="test")
            assert (event.from_stage, event.to_stage) == (from_stage, to_stage)
            assert lead.stage == to_stage
            assert lead.open_email == (lead.email if lead.is_open else None)
    assert any(j["func"].endswith("stage_changed") for j in pending_jobs())


def test_refused_moves_raise_invalid_transition(db):
    prog = f.program()
    stages = ("new", "mql", "sql", "opportunity", "won", "lost", "rejected", "recycled")
    for from_stage in stages:
        for to_stage in set(stages) - TRANSITIONS[from_stage]:
            lead = f.lead(prog, stage=from_stage)
            with pytest.raises(InvalidTransition):
                change_stage(lead, to_stage)
            assert lead.stage == from_stage
