"""The queue's order and filters, in the service, the API and the page; and its query count."""
from datetime import UTC, datetime, timedelta

import time_machine

from referral_app.extensions import db
from referral_app.services import lead_queue, leads, sla
from tests import factories as f
from tests.conftest import sign_in
from tests.sla.conftest import MONDAY_10

NOW = datetime(2026, 3, 2, 19, 30, tzinfo=UTC)  # Monday 14:30 New York


def _world_queue(world):
    """Leads of the rep in a known urgency order, plus some that must not show."""
    early = world.lead(at=MONDAY_10 - timedelta(hours=1), name="Breached Bea")  # due 14:00 NY
    sla.sweep(NOW)
    soon = world.lead(at=MONDAY_10, name="Soon Sam")  # due 15:00 NY
    later = world.lead(at=MONDAY_10 + timedelta(hours=2), name="Later Lou")  # due 17:00 NY
    gadget = f.program(product="Gadget", name="Gadget pals")
    no_clock = f.lead(gadget, referrer=world.referrer, owner=world.rep, name="Clockless Cy")
    f.lead(world.program, referrer=world.referrer, owner=world.rep, stage="won", name="Won Wu")
    world.lead(owner=world.other_rep, name="Other Ola")
    db.session.commit()
    return [early, soon, later, no_clock]


def test_queue_order_breached_first_then_time_left(world):
    expected = _world_queue(world)
    rows, total = lead_queue.page(NOW, owner_ids=[world.rep.id])
    assert [r.lead.id for r in rows] == [lead.id for lead in expected] and total == 4
    assert [r.breached for r in rows] == [True, False, False, False]
    assert rows[0].seconds_left == -1800
    assert rows[1].seconds_left == 1800 and rows[2].seconds_left == 9000
    assert rows[3].seconds_left is None
    assert (rows[1].attempts_used, rows[1].max_attempts) == (0, 4)


def test_time_left_counts_working_time_only(world):
    lead = world.lead(at=datetime(2026, 3, 6, 20, 0, tzinfo=UTC))  # Friday 15:00 NY
    saturday = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)
    [row], _ = lead_queue.page(saturday, owner_ids=[world.rep.id])
    assert row.lead.id == lead.id and row.seconds_left == 3 * 3600  # Monday 9:00 - 12:00


def test_a_met_first_attempt_moves_the_lead_down(world):
    first, second = world.lead(), world.lead(at=MONDAY_10 + timedelta(hours=1))
    leads.log_attempt(first, world.rep.id, "call", "no_answer", at=MONDAY_10 + timedelta(hours=1))
    db.session.commit()
    rows, _ = lead_queue.page(NOW, owner_ids=[world.rep.id])
    assert [r.lead.id for r in rows] == [second.id, first.id]  # first now waits on its window
    assert rows[1].attempts_used == 1 and rows[1].next_kind == "attempt_limit"


def test_filters_by_program_and_stage(world):
    expected = _world_queue(world)
    gadget_id = expected[3].program_id
    rows, total = lead_queue.page(NOW, owner_ids=[world.rep.id], program_id=gadget_id)
    assert [r.lead.id for r in rows] == [expected[3].id] and total == 1
    leads.accept(expected[2], world.rep.id, at=NOW)
    db.session.commit()
    rows, _ = lead_queue.page(NOW, owner_ids=[world.rep.id], stage="sql")
    assert [r.lead.id for r in rows] == [expected[2].id]


def test_a_page_costs_the_same_few_statements_whatever_its_size(world, db):
    for i in range(30):
        world.lead(at=MONDAY_10 + timedelta(minutes=i))
    counted = []

    def count(conn, cursor, statement, *args):
        counted.append(statement)

    rep_id = world.rep.id
    db.session.expire_all()
    db.event.listen(db.engine, "before_cursor_execute", count)
    try:
        rows, total = lead_queue.page(NOW, owner_ids=[rep_id])
        for row in rows:  # what the page renders must already be loaded
            _ = (row.lead.referral.referee_name, row.lead.referral.referrer.name,
                 row.lead.program.name, row.lead.agreement.calendar.timezone, row.max_attempts)
    finally:
        db.event.remove(db.engine, "before_cursor_execute", count)
    assert total == 30 and len(rows) == 30
    # The count, the page, and the page's one agreement with its calendar (read once each,
    # not joined into every row).
    assert len(counted) == 4, counted


def test_todays_breaches_come_with_their_names_in_two_statements(world, db):
    # The managers' page lists up to 200 of them: one lazy load per row was 200 queries.
    for i in range(5):
        world.lead(at=MONDAY_10 + timedelta(minutes=i))
    db.session.commit()
    later = MONDAY_10 + timedelta(days=3)
    assert len(sla.sweep(later)) >= 5
    db.session.commit()
    db.session.expire_all()
    counted = []

    def count(conn, cursor, statement, *args):
        counted.append(statement)

    db.event.listen(db.engine, "before_cursor_execute", count)
    try:
        breaches = lead_queue.breaches_between(MONDAY_10, later + timedelta(days=1))
        names = {lead.referral.referee_name for _, lead in breaches}
    finally:
        db.event.remove(db.engine, "before_cursor_execute", count)
    assert len(breaches) == 5 and len(names) == 5
    reads = [s for s in counted if s.lstrip().upper().startswith("SELECT")]  # SQLite: BEGIN too
    assert len(reads) == 2, counted  # the breaches with their leads, then the referrals


def test_api_queue_is_ordered_and_paginated(world, api):
    expected = _world_queue(world)
    with time_machine.travel(NOW, tick=False):
        body = api(world.rep).get("/api/v1/queue?per_page=3").json
        second = api(world.rep).get("/api/v1/queue?per_page=3&page=2").json
    assert (body["total"], body["page"], body["per_page"]) == (4, 1, 3)
    assert [i["id"] for i in body["items"] + second["items"]] == [x.id for x in expected]
    assert body["items"][0]["sla"]["first_attempt"]["status"] == "breached"
    assert body["items"][1]["sla"]["seconds_left"] == 1800
    stage = api(world.rep).get("/api/v1/queue?stage=won")
    assert stage.status_code == 422
    assert api(world.referrer).get("/api/v1/queue").status_code == 403
    assert api(world.rep).get(f"/api/v1/queue?program={world.program.slug}").json["total"] == 3


def test_queue_page_renders_in_order_and_escapes(world, client):
    expected = _world_queue(world)
    world.lead(name="<script>alert(1)</script>", company="<b>Evil</b> Corp")
    with time_machine.travel(NOW, tick=False):
        sign_in(client, world.rep)
        html = client.get("/queue/").get_data(as_text=True)
        filtered = client.get(f"/queue/?program={expected[3].program_id}&stage=new")
    positions = [html.index(f'/queue/leads/{lead.id}"') for lead in expected]
    assert positions == sorted(positions)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
    assert "&lt;b&gt;Evil&lt;/b&gt; Corp" in html
    assert 'class="countdown" data-seconds-left="-1800"' in html
    assert "Rita Referrer" in html and "Widget friends" in html and "0/4" in html
    assert "js/queue.js" in html and "Other Ola" not in html and "Won Wu" not in html
    filtered = filtered.get_data(as_text=True)
    assert "Clockless Cy" in filtered and "Soon Sam" not in filtered


def test_queue_page_is_for_reps(world, client):
    sign_in(client, world.referrer)
    assert client.get("/queue/").status_code == 403
    assert client.get("/queue/team").status_code == 403
