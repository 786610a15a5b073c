"""The lead API: the contract's body, every allowed and refused move, and who may do what."""
from referral_app.extensions import db
from referral_app.services.stages import TRANSITIONS
from tests import factories as f
from tests.sla.conftest import clock

# Each API move, its body and the stage it leads to (close won/lost share /close).
MOVES = {
    "accept": ({}, "sql"),
    "reject": ({"reason": "No budget"}, "rejected"),
    "opportunity": ({"amount": "12000"}, "opportunity"),
    "close-won": ({"won": True, "amount": "15000.5"}, "won"),
    "close-lost": ({"won": False, "reason": "Went with a competitor"}, "lost"),
}
STAGES = ("new", "mql", "sql", "opportunity", "won", "lost", "rejected", "recycled")


def _post(client, lead, move, body):
    return client.post(f"/api/v1/leads/{lead.id}/{move.split('-')[0]}", json=body)


def test_get_lead_has_the_contract_body(world, api):
    lead = world.lead()
    body = api(world.rep).get(f"/api/v1/leads/{lead.id}").json
    assert {"id", "stage", "owner", "program", "referral_id", "received_at", "sla"} <= set(body)
    assert body["id"] == lead.id and body["stage"] == "new"
    assert body["owner"] == {"id": world.rep.id, "name": "Remy Rep", "email": world.rep.email}
    assert body["program"] == world.program.slug and body["referral_id"] == lead.referral_id
    assert body["received_at"] == "2026-03-02T15:00:00+00:00"
    assert body["sla"]["first_attempt"] == {
        "kind": "first_attempt", "status": "running", "started_at": "2026-03-02T15:00:00+00:00",
        "due_at": "2026-03-02T20:00:00+00:00", "met_at": None, "breached_at": None}
    assert body["sla"]["attempts"] == {"count": 0, "max": 4, "window_ends_at": None,
                                       "connected": False}


def test_who_may_read_a_lead(world, api):
    lead = world.lead()
    path = f"/api/v1/leads/{lead.id}"
    assert api(world.other_rep).get(path).status_code == 404
    assert api(world.referrer).get(path).status_code == 403
    assert api(world.manager).get(path).status_code == 200
    assert api(world.marketing).get(path).status_code == 200
    assert api(world.rep).get("/api/v1/leads/999999").status_code == 404
    assert world.rep.id and api(world.rep).get(path).status_code == 200


def test_who_may_work_a_lead(world, api):
    lead = world.lead()
    attempt = {"channel": "call", "outcome": "no_answer"}
    path = f"/api/v1/leads/{lead.id}/attempts"
    other = api(world.other_rep).post(path, json=attempt)
    assert other.status_code == 404 and other.json["error"]["code"] == "not_found"
    assert api(world.referrer).post(path, json=attempt).status_code == 403
    assert api(world.marketing).post(path, json=attempt).status_code == 403
    assert api(world.manager).post(path, json=attempt).status_code == 403
    assert api(world.referrer).post(f"/api/v1/leads/{lead.id}/accept", json={}).status_code == 403
    assert api(world.other_rep).post(f"/api/v1/leads/{lead.id}/accept", json={}).status_code == 404
    assert api(world.rep).post(path, json=attempt).status_code == 201


def test_every_move_from_every_stage(world, api):
    rep = api(world.rep)
    for stage in STAGES:
        for move, (body, target) in MOVES.items():
            lead = f.lead(world.program, referrer=world.referrer, owner=world.rep, stage=stage)
            db.session.commit()
            response = _post(rep, lead, move, body)
            db.session.expire_all()
            if target in TRANSITIONS[stage]:
                assert response.status_code == 200, (stage, move, response.json)
                assert response.json["stage"] == target == lead.stage
            else:
                assert response.status_code == 409, (stage, move, response.json)
                assert response.json["error"]["code"] == "invalid_transition"
                assert response.json["error"]["message"]
                assert lead.stage == stage


def test_moves_store_amounts_reasons_and_the_checklist(world, api):
    from referral_app.models import MqlDefinition

    db.session.add(MqlDefinition(product="Widget", sql_checklist=["Budget", "Authority", "Need"]))
    lead = world.lead()
    rep = api(world.rep)
    accepted = rep.post(f"/api/v1/leads/{lead.id}/accept", json={"checklist": ["Need", "Budget"]})
    assert accepted.json["sql_checklist"] == ["Budget", "Need"]
    opened = rep.post(f"/api/v1/leads/{lead.id}/opportunity", json={"amount": 12000})
    assert opened.json["stage"] == "opportunity" and opened.json["amount"] == "12000.00"
    won = rep.post(f"/api/v1/leads/{lead.id}/close", json={"won": True})
    assert won.json["stage"] == "won" and won.json["amount"] == "12000.00"
    assert clock(lead).status == "cancelled"

    lost = world.lead(email="lost@prospect.example")
    rep.post(f"/api/v1/leads/{lost.id}/accept", json={})
    closed = rep.post(f"/api/v1/leads/{lost.id}/close",
                      json={"won": False, "reason": "Timing", "note": "next year"})
    assert closed.json["close_reason"] == "Timing: next year"


def test_invalid_bodies_are_422_with_fields(world, api):
    lead = world.lead()
    rep = api(world.rep)
    bad = rep.post(f"/api/v1/leads/{lead.id}/attempts", json={"channel": "fax"})
    assert bad.status_code == 422
    assert set(bad.json["error"]["fields"]) == {"channel", "outcome"}
    assert rep.post(f"/api/v1/leads/{lead.id}/reject", json={}).json["error"]["fields"] == {
        "reason": ["Missing data for required field."]}
    assert rep.post(f"/api/v1/leads/{lead.id}/accept",
                    json={"checklist": ["Made up"]}).status_code == 422
    rep.post(f"/api/v1/leads/{lead.id}/accept", json={})
    for body in ({"amount": "-5"}, {"amount": "lots"}, {}):
        response = rep.post(f"/api/v1/leads/{lead.id}/opportunity", json=body)
        assert response.status_code == 422 and "amount" in response.json["error"]["fields"]
    lost = rep.post(f"/api/v1/leads/{lead.id}/close", json={"won": False})
    assert lost.status_code == 422 and "reason" in lost.json["error"]["fields"]
    won = rep.post(f"/api/v1/leads/{lead.id}/close", json={"won": True})
    assert won.status_code == 422 and "amount" in won.json["error"]["fields"]


def test_the_openapi_document_describes_the_lead_endpoints(client):
    spec = client.get("/api/openapi.json").json
    paths = spec["paths"]
    for path in ("/api/v1/leads/{lead_id}", "/api/v1/queue", "/api/v1/leads/{lead_id}/attempts",
                 "/api/v1/leads/{lead_id}/accept", "/api/v1/leads/{lead_id}/reject",
                 "/api/v1/leads/{lead_id}/opportunity", "/api/v1/leads/{lead_id}/close"):
        assert path in paths, path
    assert "409" in paths["/api/v1/leads/{lead_id}/attempts"]["post"]["responses"]
    assert {"LeadOut", "LeadAttemptIn", "LeadCloseIn"} <= set(spec["components"]["schemas"])


def test_a_retried_attempt_with_the_same_idempotency_key_counts_once(world, api):
    lead = world.lead()
    rep = api(world.rep)
    headers = {"Idempotency-Key": "attempt-1"}
    attempt = {"channel": "call", "outcome": "no_answer"}
    first = rep.post(f"/api/v1/leads/{lead.id}/attempts", json=attempt, headers=headers)
    again = rep.post(f"/api/v1/leads/{lead.id}/attempts", json=attempt, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    from referral_app.services import leads

    assert leads.attempt_stats(lead) == (1, False)
    other = rep.post(f"/api/v1/leads/{lead.id}/attempts", json={**attempt, "note": "x"},
                     headers=headers)
    assert other.status_code == 422
