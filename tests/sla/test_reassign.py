"""Reassignment: the first-attempt clock keeps running unless the manager restarts it."""
from datetime import timedelta

import pytest

from referral_app.errors import ValidationFailed
from referral_app.extensions import db
from referral_app.services import leads
from tests import factories as f
from tests.sla.conftest import MONDAY_10, clock


def test_reassign_keeps_the_running_clock_and_records_an_event(world):
    lead = world.lead()
    due = clock(lead).due_at
    event = leads.reassign(lead, world.other_rep.id, world.manager.id,
                           at=MONDAY_10 + timedelta(hours=1))
    assert (event.kind, event.data["from_owner"], event.data["to_owner"]) == (
        "assign", world.rep.id, world.other_rep.id)
    assert lead.owner_id == world.other_rep.id
    assert (clock(lead).due_at, clock(lead).owner_id) == (due, world.other_rep.id)
    assert leads.reassign(lead, world.other_rep.id, world.manager.id) is None  # already theirs


def test_restart_gives_the_new_owner_the_full_time(world):
    lead = world.lead()
    later = MONDAY_10 + timedelta(hours=1)
    leads.reassign(lead, world.other_rep.id, world.manager.id, at=later, restart=True)
    first = clock(lead)
    assert (first.started_at, first.status) == (later, "running")
    assert first.due_at == MONDAY_10 + timedelta(hours=6) == lead.sla_due_at


def test_a_breached_clock_is_not_restarted(world):
    from referral_app.services import sla

    lead = world.lead()
    due = clock(lead).due_at
    sla.sweep(due + timedelta(minutes=1))
    leads.reassign(lead, world.other_rep.id, world.manager.id, at=due + timedelta(hours=1),
                   restart=True)
    assert (clock(lead).status, clock(lead).due_at, clock(lead).owner_id) == (
        "breached", due, world.rep.id)


def test_reassign_needs_an_active_rep_and_an_open_lead(world):
    lead = world.lead()
    with pytest.raises(ValidationFailed):
        leads.reassign(lead, world.referrer.id, world.manager.id)
    closed = f.lead(world.program, owner=world.rep, stage="won")
    db.session.commit()
    assert leads.reassign_many([closed.id], world.other_rep.id, world.manager.id) == 0


def test_next_rep_is_round_robin_among_present_reps_of_the_product(world):
    lead = world.lead()
    assert leads.next_rep(lead).id == world.other_rep.id
    world.other_rep.away = True
    assert leads.next_rep(lead) is None
