"""POST/GET /api/v1/referrals against the contract in API.md."""
import re
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import func, select

from referral_app.models import Lead, Referral, RefusedReferral, Reward, RewardRule
from referral_app.schemas.referrals import ReferralCreatedOut
from referral_app.services import codes
from tests import factories as f
from tests.intake.conftest import referee

ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?[+-]\d\d:\d\d$")


def body(n=1, **over):
    values = {"program": "widgets", "referee": referee(n), "note": "Met at the fair",
              "consent": True}
    values.update(over)
    return values


def test_201_answers_id_status_code_and_lead(world, db, api):
    client = api(world.referrer)
    response = client.post("/api/v1/referrals", json=body())
    assert response.status_code == 201, response.json
    data = response.json
    referral = db.session.get(Referral, data["id"])
    code = codes.code_for(world.referrer.id, world.program.id).code
    assert data == {"id": referral.id, "status": "submitted", "code": code,
                    "lead": {"id": referral.lead.id, "stage": "new"}}
    assert ReferralCreatedOut().dump(data) == data  # built directly, as its schema dumps it
    assert referral.source == "api" and referral.referee_phone == "+12125550100"


def test_idempotency_key_replays_the_first_answer(world, db, api):
    client = api(world.referrer)
    headers = {"Idempotency-Key": "order-42"}
    first = client.post("/api/v1/referrals", json=body(), headers=headers)
    # Same body, keys in another order: still the same request.
    reordered = dict(reversed(list(body().items())))
    again = client.post("/api/v1/referrals", json=reordered, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    # The first answer (orjson) and its replay (jsonify) are the same bytes.
    assert again.data == first.data and first.mimetype == "application/json"
    assert db.session.scalar(select(func.count(Referral.id))) == 1
    # Without the key, the same referee is now a duplicate.
    assert client.post("/api/v1/referrals", json=body()).status_code == 409


def test_same_key_with_another_body_is_422_idempotency_mismatch(world, db, api):
    client = api(world.referrer)
    headers = {"Idempotency-Key": "k-1"}
    assert client.post("/api/v1/referrals", json=body(1), headers=headers).status_code == 201
    response = client.post("/api/v1/referrals", json=body(2), headers=headers)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "idempotency_mismatch"
    assert "Idempotency-Key" in response.json["error"]["fields"]
    # Keys are per caller: another referrer may use the same key.
    other = api(world.partner).post("/api/v1/referrals", json=body(3), headers=headers)
    assert other.status_code == 201


def test_a_refusal_is_replayed_too(world, db, api):
    f.lead(world.program, email="rhea1@prospect.example")
    client = api(world.referrer)
    headers = {"Idempotency-Key": "dup"}
    first = client.post("/api/v1/referrals", json=body(), headers=headers)
    again = client.post("/api/v1/referrals", json=body(), headers=headers)
    assert first.status_code == again.status_code == 409
    assert first.json == again.json and again.json["error"]["code"] == "duplicate"
    assert db.session.scalar(select(func.count(RefusedReferral.id))) == 1


def test_409_duplicate_for_an_open_lead(world, db, api):
    f.lead(f.program(product="Gadget"), email="rhea1@prospect.example")
    response = api(world.referrer).post("/api/v1/referrals", json=body())
    assert response.status_code == 409
    assert response.json["error"]["code"] == "duplicate"
    assert db.session.scalar(select(RefusedReferral.reason)) == "duplicate"


def test_422_names_every_invalid_field(world, db, api):
    bad = body(referee={"name": "", "email": "nope", "phone": "12", "country": "ZZ"},
               consent="maybe")
    response = api(world.referrer).post("/api/v1/referrals", json=bad)
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "invalid"
    assert {"referee.name", "referee.email", "referee.country", "consent"} <= set(error["fields"])
    missing = api(world.referrer).post("/api/v1/referrals", json={"referee": {}})
    assert {"program", "referee.name", "referee.email"} <= set(missing.json["error"]["fields"])


def test_422_for_consent_and_self_referral_with_their_codes(world, db, api):
    client = api(world.referrer)
    no_consent = client.post("/api/v1/referrals", json=body(consent=False))
    assert no_consent.status_code == 422
    assert no_consent.json["error"]["code"] == "consent_required"
    assert "consent" in no_consent.json["error"]["fields"]
    me = client.post("/api/v1/referrals",
                     json=body(referee=referee(email="carla@customer.example")))
    assert me.status_code == 422 and me.json["error"]["code"] == "self_referral"


def test_unknown_program_is_404_and_inactive_is_409(world, db, api):
    client = api(world.referrer)
    assert client.post("/api/v1/referrals", json=body(program="nope")).status_code == 404
    f.program(slug="paused", status="paused")
    response = client.post("/api/v1/referrals", json=body(program="paused"))
    assert response.status_code == 409 and response.json["error"]["code"] == "program_inactive"
    f.program(slug="partners", kinds=("partner",))
    response = client.post("/api/v1/referrals", json=body(program="partners"))
    assert response.status_code == 403 and response.json["error"]["code"] == "kind_not_allowed"


def test_401_without_a_token_and_403_for_a_sales_user(world, db, api, client):
    response = client.post("/api/v1/referrals", json=body())
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthenticated"
    sales = api(world.reps[0]).post("/api/v1/referrals", json=body())
    assert sales.status_code == 403 and sales.json["error"]["code"] == "forbidden"
    assert api(world.reps[0]).get("/api/v1/referrals").status_code == 403
    assert db.session.scalar(select(func.count(Lead.id))) == 0


def test_413_for_an_oversized_body(world, db, api):
    huge = body(note="x" * (70 * 1024))
    response = api(world.referrer).post("/api/v1/referrals", json=huge)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "too_large"


def test_list_is_own_only_for_referrers_and_all_for_marketing(world, db, api, make_user):
    mine, theirs = api(world.referrer), api(world.partner)
    ids = [mine.post("/api/v1/referrals", json=body(n)).json["id"] for n in (1, 2, 3)]
    other = theirs.post("/api/v1/referrals", json=body(4)).json["id"]
    page = mine.get("/api/v1/referrals?per_page=2").json
    assert (page["page"], page["per_page"], page["total"]) == (1, 2, 3)
    assert {item["id"] for item in page["items"]} <= set(ids)
    assert mine.get("/api/v1/referrals?page=2&per_page=2").json["items"][0]["id"] in ids
    marketing = api(make_user("marketing"))
    assert marketing.get("/api/v1/referrals").json["total"] == 4
    assert mine.get(f"/api/v1/referrals/{other}").status_code == 404
    assert marketing.get(f"/api/v1/referrals/{other}").status_code == 200
    assert mine.get("/api/v1/referrals/999999").status_code == 404


def test_one_referral_with_lead_stage_rewards_money_and_time(world, db, api):
    client = api(world.referrer)
    created = client.post("/api/v1/referrals", json=body(deal_value="1234.5")).json
    rule = db.session.scalar(select(RewardRule).where(RewardRule.side == "get"))
    db.session.add(Reward(rule_id=rule.id, referral_id=created["id"],
                          program_id=world.program.id, referrer_id=world.referrer.id,
                          side="get", trigger="won", status="pending",
                          amount=Decimal("100"), currency="USD",
                          created_at=datetime(2026, 3, 1, tzinfo=UTC)))
    db.session.commit()
    data = client.get(f"/api/v1/referrals/{created['id']}").json
    assert data["status"] == "submitted" and data["lead"] == created["lead"]
    assert data["program"] == "widgets" and data["referee"]["email"] == "rhea1@prospect.example"
    assert data["deal_value"] == "1234.50"
    assert ISO_WITH_OFFSET.match(data["created_at"])
    [reward] = data["rewards"]
    assert {k: reward[k] for k in ("side", "status", "amount", "currency", "trigger")} == \
        {"side": "get", "status": "pending", "amount": "100.00", "currency": "USD",
         "trigger": "won"}


def test_the_endpoints_are_in_the_openapi_document(client):
    spec = client.get("/api/openapi.json").json
    post = spec["paths"]["/api/v1/referrals"]["post"]
    # Every alternative answer is in the document, with the view's own description of it.
    answers = post["responses"]
    assert set(answers) >= {"201", "401", "403", "404", "409", "413", "422", "503"}
    assert answers["401"] == {"$ref": "#/components/responses/UNAUTHORIZED"}
    assert "Idempotency-Key" in answers["503"]["description"]
    assert "`duplicate`" in answers["409"]["description"]
    assert "kind_not_allowed" in answers["403"]["description"]
    error = answers["409"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}
    assert "get" in spec["paths"]["/api/v1/referrals/{referral_id}"]
    schemas = spec["components"]["schemas"]
    assert {"ReferralIn", "ReferralOut", "ReferralCreatedOut"} <= set(schemas)
    assert "referee" in schemas["ReferralIn"]["properties"]
