"""The lead page and the managers' team page: they render, escape, offer only valid moves, act."""
from datetime import timedelta

from sqlalchemy import select

from referral_app.extensions import db
from referral_app.models import Attempt, MqlDefinition, RejectionReason
from referral_app.services import leads, sla
from tests import factories as f
from tests.conftest import sign_in
from tests.sla.conftest import MONDAY_10, clock


def _definitions():
    db.session.add(MqlDefinition(product="Widget",
                                 sql_checklist=["Budget confirmed", "Has a need"]))
    db.session.add_all([RejectionReason(kind="reject", label="Not our market"),
                        RejectionReason(kind="reject", label="Retired reason", active=False),
                        RejectionReason(kind="lost", label="Chose a competitor")])
    db.session.commit()


def _page(client, lead):
    response = client.get(f"/queue/leads/{lead.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_lead_page_tells_the_story_and_escapes(world, client):
    _definitions()
    lead = world.lead(name="Ann <img src=x onerror=alert(1)>",
                      note="Call after 3pm\n<script>x</script>")
    lead.score, lead.score_rules = 60, [{"field": "title", "operator": "contains",
                                         "value": "VP", "points": 40}]
    db.session.commit()
    html = _page(sign_in(client, world.rep), lead)
    assert "Ann &lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<script>x" not in html
    assert "Rita Referrer" in html and "Acme" in html and "20% off the first year" in html
    assert "MQL score: 60" in html and 'job title contains &#34;VP&#34;' in html and "+40" in html
    assert "First attempt" in html and 'class="countdown"' in html and "0/4" in html
    assert "Budget confirmed" in html and 'type="checkbox"' in html
    assert "Not our market" in html and "Retired reason" not in html
    # Offered: attempt, accept, reject, recycle. Not offered: opportunity, close.
    for present in ('id="attempt"', 'id="decide"', 'id="reject"', 'id="recycle"'):
        assert present in html
    for absent in ('id="opportunity"', 'id="close"', 'id="reassign"'):
        assert absent not in html


def test_an_accepted_lead_offers_opportunity_and_close_only(world, client):
    lead = world.lead()
    leads.accept(lead, world.rep.id)
    db.session.commit()
    html = _page(sign_in(client, world.rep), lead)
    assert 'id="opportunity"' in html and 'id="close"' in html and 'id="recycle"' in html
    assert 'id="decide"' not in html and 'id="reject"' not in html


def test_a_closed_lead_offers_nothing_and_a_recycled_one_says_why(world, client):
    lead = world.lead()
    for i in range(4):
        leads.log_attempt(lead, world.rep.id, "call", "no_answer", at=MONDAY_10 + timedelta(days=i))
    db.session.commit()
    html = _page(sign_in(client, world.rep), lead)
    assert "Actions" not in html and 'id="attempt"' not in html
    assert "no more attempts can be logged" in html
    assert html.count("call: no answer") == 4  # the timeline
    # The fourth attempt and the move it caused share their time: the attempt reads first.
    last_attempt, recycled = html.rindex("call: no answer"), html.index("→ recycled")
    assert last_attempt < recycled


def test_actions_through_the_forms(world, client):
    _definitions()
    lead = world.lead()
    sign_in(client, world.rep)
    response = client.post(f"/queue/leads/{lead.id}/attempt", data={
        "attempt-channel": "call", "attempt-outcome": "connected", "attempt-note": "Keen"})
    assert response.status_code == 302
    attempt = db.session.scalars(select(Attempt).where(Attempt.lead_id == lead.id)).one()
    assert (attempt.outcome, attempt.note, attempt.user_id) == ("connected", "Keen", world.rep.id)
    assert clock(lead, "decision").status == "running"
    client.post(f"/queue/leads/{lead.id}/accept", data={"accept-checklist": ["Has a need"]})
    db.session.expire_all()
    assert lead.stage == "sql" and lead.sql_checklist == ["Has a need"]
    assert clock(lead, "decision").status == "met"
    client.post(f"/queue/leads/{lead.id}/opportunity", data={"opportunity-amount": "9600"})
    client.post(f"/queue/leads/{lead.id}/lost", data={"lost-reason": "Chose a competitor",
                                                      "lost-note": "price"})
    db.session.expire_all()
    assert lead.stage == "lost" and str(lead.amount) == "9600.00"
    assert lead.close_reason == "Chose a competitor: price"


def test_form_errors_stay_on_the_page(world, client):
    _definitions()
    lead = world.lead()
    sign_in(client, world.rep)
    response = client.post(f"/queue/leads/{lead.id}/reject", data={"reject-reason": "Other"})
    assert response.status_code == 422
    assert "Explain the reason when you choose Other." in response.get_data(as_text=True)
    bad = client.post(f"/queue/leads/{lead.id}/accept", data={"accept-checklist": ["Invented"]})
    assert bad.status_code == 422
    refused = client.post(f"/queue/leads/{lead.id}/opportunity", data={"opportunity-amount": "5"})
    assert refused.status_code == 403 or refused.status_code == 409  # not offered from new
    db.session.expire_all()
    assert lead.stage == "new"


def test_others_cannot_see_or_work_the_lead(world, client):
    lead = world.lead()
    sign_in(client, world.other_rep)
    assert client.get(f"/queue/leads/{lead.id}").status_code == 404
    assert client.post(f"/queue/leads/{lead.id}/attempt", data={
        "attempt-channel": "call", "attempt-outcome": "no_answer"}).status_code == 404
    client.post("/sign-out")
    sign_in(client, world.manager)
    html = _page(client, lead)
    assert 'id="reassign"' in html and 'id="attempt"' not in html
    assert client.post(f"/queue/leads/{lead.id}/attempt", data={
        "attempt-channel": "call", "attempt-outcome": "no_answer"}).status_code == 403
    assert leads.attempt_stats(lead) == (0, False)


def test_team_page_shows_queue_unassigned_and_todays_breaches(world, client):
    breached = world.lead(name="Breached Bo")
    clock_id = clock(breached).id
    f.lead(world.program, referrer=world.referrer, name="Nobody's Nell")
    world.lead(owner=world.other_rep, name="Olga's Oz")
    db.session.commit()
    sign_in(client, world.manager)
    sla.sweep(sla.clocks_of(breached)["first_attempt"].due_at + timedelta(seconds=1))
    db.session.execute(db.update(type(clock(breached))).where(
        type(clock(breached)).id == clock_id).values(breached_at=db.func.now()))
    db.session.commit()
    html = client.get("/queue/team").get_data(as_text=True)
    assert "Nobody&#39;s Nell" in html and "Olga&#39;s Oz" in html and "Breached Bo" in html
    assert "Breaches today (1)" in html and "Unassigned (1)" in html
    assert 'name="lead_ids"' in html


def test_bulk_reassign_keeps_the_first_attempt_clock_unless_asked(world, client):
    first, second = world.lead(), world.lead(at=MONDAY_10 + timedelta(hours=1))
    unassigned = f.lead(world.program, referrer=world.referrer)
    db.session.commit()
    due = clock(first).due_at
    sign_in(client, world.manager)
    response = client.post("/queue/team/reassign", data={
        "lead_ids": [str(first.id), str(unassigned.id)], "bulk-owner": str(world.other_rep.id)})
    assert response.status_code == 302
    db.session.expire_all()
    assert first.owner_id == unassigned.owner_id == world.other_rep.id
    assert (clock(first).started_at, clock(first).due_at) == (MONDAY_10, due)
    assert clock(first).owner_id == world.other_rep.id
    assert clock(unassigned) is not None  # a first assignment starts the clocks
    client.post("/queue/team/reassign", data={
        "lead_ids": [str(second.id)], "bulk-owner": str(world.other_rep.id), "bulk-restart": "y"})
    db.session.expire_all()
    assert second.owner_id == world.other_rep.id
    assert clock(second).started_at > MONDAY_10 + timedelta(hours=1)  # restarted now
    nothing = client.post("/queue/team/reassign", data={"bulk-owner": str(world.rep.id)})
    assert nothing.status_code == 422
    assert "Tick at least one lead." in nothing.get_data(as_text=True)


def test_team_page_is_for_managers(world, client):
    sign_in(client, world.rep)
    assert client.get("/queue/team").status_code == 403
    assert client.post("/queue/team/reassign", data={}).status_code == 403


def test_the_action_forms_carry_their_csrf_token(world):
    import re

    from referral_app.app import create_app
    from tests.conftest import make_config

    secured = create_app(make_config(WTF_CSRF_ENABLED=True))
    lead = world.lead()
    email, lead_id = world.rep.email, lead.id
    db.session.commit()  # end the test's read transaction: SQLite writers would wait on it
    client = secured.test_client()
    page = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    client.post("/sign-in", data={"email": email, "password": "correct horse",
                                  "csrf_token": token})
    page = client.get(f"/queue/leads/{lead_id}").get_data(as_text=True)
    token = re.search(r'name="attempt-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = {"attempt-channel": "email", "attempt-outcome": "no_answer"}
    assert client.post(f"/queue/leads/{lead_id}/attempt", data=data).status_code == 400
    response = client.post(f"/queue/leads/{lead_id}/attempt",
                           data={**data, "attempt-csrf_token": token})
    assert response.status_code == 302
    db.session.expire_all()
    assert leads.attempt_stats(lead) == (1, False)


def test_the_timeline_names_who_a_lead_was_given_to(world, client):
    lead = f.lead(world.program, referrer=world.referrer, received_at=MONDAY_10)
    db.session.commit()
    leads.reassign(lead, world.rep.id, world.manager.id, at=MONDAY_10)  # its first rep
    leads.reassign(lead, world.other_rep.id, world.manager.id, at=MONDAY_10 + timedelta(hours=1))
    db.session.commit()
    html = _page(sign_in(client, world.manager), lead)
    assert "Assigned to Remy Rep" in html and "Reassigned to Olga Other" in html
    assert html.index("Assigned to Remy Rep") < html.index("Reassigned to Olga Other")


def test_a_manager_marks_a_rep_away_and_back(world, client):
    from referral_app.services import assignment

    sign_in(client, world.manager)
    page = client.get("/queue/team").get_data(as_text=True)
    assert "Remy Rep" in page and "Away: no new leads" in page
    response = client.post(f"/queue/team/reps/{world.rep.id}/away", data={"away": "1"},
                           follow_redirects=True)
    assert b"Remy Rep is away" in response.data and b"Back: give them leads" in response.data
    db.session.expire_all()
    assert [u.id for u in db.session.scalars(assignment.candidates("Widget"))] == \
        [world.other_rep.id]
    client.post(f"/queue/team/reps/{world.rep.id}/away", data={"away": "0"})
    db.session.expire_all()
    assert world.rep.id in {u.id for u in db.session.scalars(assignment.candidates("Widget"))}
    # Not a rep of this team, or not a rep at all: no such page.
    assert client.post(f"/queue/team/reps/{world.marketing.id}/away").status_code == 404
