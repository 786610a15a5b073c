"""The programs API contract: 201, 409 duplicate, 422 with fields, 403 by role, code and link."""
import pytest

from referral_app.models import Program, ReferralCode
from tests import factories
from tests.console.conftest import program_body


def test_marketing_creates_a_program_as_a_draft_with_its_rules(api, marketer, db):
    response = api(marketer).post("/api/v1/programs", json=program_body())
    assert response.status_code == 201, response.json
    body = response.json
    assert body["slug"] == "crm-friends" and body["status"] == "draft"
    assert body["rewards_summary"] == ("Your friend gets 20% off; you get $100 when they become a "
                                       "customer (up to 5 a year).")
    assert [r["amount"] for r in body["rewards"]] == ["20.00", "100.00"]
    assert "code" not in body and "link" not in body
    program = db.session.scalar(db.select(Program))
    assert program.created_by_id == marketer.id and len(program.rules) == 2


def test_status_active_in_the_body_launches_at_once(api, marketer):
    response = api(marketer).post("/api/v1/programs", json=program_body(status="active"))
    assert response.status_code == 201 and response.json["status"] == "active"


def test_duplicate_slug_is_409_duplicate(api, marketer):
    client = api(marketer)
    assert client.post("/api/v1/programs", json=program_body()).status_code == 201
    again = client.post("/api/v1/programs", json=program_body(name="Another"))
    assert again.status_code == 409
    assert again.json["error"]["code"] == "duplicate"


@pytest.mark.parametrize("change, field", [
    ({"share_message": "Hi {referer_first_name}: {link}"}, "share_message"),
    ({"slug": "Not A Slug!"}, "slug"),
    ({"slug": "new"}, "slug"),
    ({"referrer_kinds": ["friend"]}, "referrer_kinds"),
    ({"referrer_kinds": []}, "referrer_kinds"),
    ({"attribution_window_days": 0}, "attribution_window_days"),
    ({"coupon_format": "REF"}, "coupon_format"),
    ({"rewards": [{"side": "get", "trigger": "won", "kind": "percent", "amount": "101",
                   "currency": "USD"}]}, "rewards.0.amount"),
    ({"rewards": [{"side": "get", "trigger": "won", "kind": "fixed", "amount": "-5",
                   "currency": "USD"}]}, "rewards.0.amount"),
    ({"rewards": [{"side": "get", "trigger": "won", "kind": "fixed", "amount": "0",
                   "currency": "USD"}]}, "rewards.0.amount"),
    ({"rewards": [{"side": "get", "trigger": "won", "kind": "fixed", "amount": "10",
                   "currency": "XYZ"}]}, "rewards.0.currency"),
    ({"rewards": [{"side": "get", "trigger": "signed", "kind": "fixed", "amount": "10"}]},
     "rewards.0.trigger"),
    ({"rewards": [{"side": "get", "trigger": "won", "kind": "fixed", "amount": "10",
                   "tiers": [{"from": 5, "amount": "150"}, {"from": 3, "amount": "200"}]}]},
     "rewards.0.tiers"),
    ({"rewards": [{"side": "get", "trigger": "won", "kind": "fixed", "amount": "10",
                   "tiers": [{"from": 10**30, "amount": "150"}]}]},
     "rewards.0.tiers.0.from"),
    ({"name": ""}, "name"),
])
def test_bad_input_is_422_naming_the_field(api, marketer, change, field):
    response = api(marketer).post("/api/v1/programs", json=program_body(**change))
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "invalid"
    assert field in response.json["error"]["fields"], response.json


def test_missing_required_fields_are_422(api, marketer):
    response = api(marketer).post("/api/v1/programs", json={"name": "x"})
    assert response.status_code == 422
    assert {"slug", "product"} <= set(response.json["error"]["fields"])


@pytest.mark.parametrize("role", ["referrer", "sales", "sales_manager"])
def test_other_roles_may_not_create_programs(api, make_user, role):
    response = api(make_user(role)).post("/api/v1/programs", json={"bogus": True})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"


def test_referrer_gets_their_code_and_link_marketing_does_not(api, marketer, referrer, db):
    factories.program(slug="crm-friends", kinds=("customer",))
    db.session.commit()
    mine = api(referrer).get("/api/v1/programs/crm-friends")
    assert mine.status_code == 200
    code = db.session.scalar(db.select(ReferralCode.code).where(
        ReferralCode.referrer_id == referrer.id))
    assert mine.json["code"] == code
    assert mine.json["link"].endswith("/r/" + code) and mine.json["link"].startswith("http")
    assert api(referrer).get("/api/v1/programs/crm-friends").json["code"] == code  # stable
    theirs = api(marketer).get("/api/v1/programs/crm-friends")
    assert theirs.status_code == 200 and "code" not in theirs.json and "link" not in theirs.json


def test_programs_a_referrer_may_not_join_are_404(api, make_user, db):
    factories.program(slug="partners-only", kinds=("partner",))
    factories.program(slug="drafty", status="draft")
    db.session.commit()
    customer = api(make_user("referrer", kind="customer"))
    assert customer.get("/api/v1/programs/partners-only").status_code == 404
    assert customer.get("/api/v1/programs/drafty").status_code == 404
    assert customer.get("/api/v1/programs/nothing").status_code == 404
    assert api(make_user("referrer", kind="partner")).get(
        "/api/v1/programs/partners-only").status_code == 200


def test_patch_edits_and_moves_the_lifecycle(api, marketer):
    client = api(marketer)
    client.post("/api/v1/programs", json=program_body())
    edited = client.patch("/api/v1/programs/crm-friends", json={"give_offer": "25% off",
                                                                 "status": "active"})
    assert edited.status_code == 200, edited.json
    assert edited.json["give_offer"] == "25% off" and edited.json["status"] == "active"
    refused = client.patch("/api/v1/programs/crm-friends", json={"status": "draft"})
    assert refused.status_code == 409
    assert refused.json["error"]["code"] == "invalid_transition"
    slug = client.patch("/api/v1/programs/crm-friends", json={"slug": "renamed"})
    assert slug.status_code == 422 and "slug" in slug.json["error"]["fields"]


def test_patch_by_a_referrer_is_403_and_unknown_is_404(api, referrer, db):
    factories.program(slug="crm-friends", kinds=("customer",))
    db.session.commit()
    assert api(referrer).patch("/api/v1/programs/crm-friends", json={}).status_code == 403
    assert api(referrer).patch("/api/v1/programs/nope", json={}).status_code == 404


def test_list_shows_only_what_the_caller_may_see(api, marketer, referrer, db):
    factories.program(slug="open-one", kinds=("customer",))
    factories.program(slug="draft-one", status="draft")
    db.session.commit()
    assert api(marketer).get("/api/v1/programs").json["total"] == 2
    listed = api(referrer).get("/api/v1/programs").json
    assert [p["slug"] for p in listed["items"]] == ["open-one"] and listed["total"] == 1


def test_openapi_documents_the_console_endpoints(client):
    spec = client.get("/api/openapi.json").json
    for path in ("/api/v1/programs", "/api/v1/programs/{slug}", "/api/v1/agreements",
                 "/api/v1/calendars"):
        assert path in spec["paths"], path
    schemas = spec["components"]["schemas"]
    assert {"ProgramIn", "ProgramOut", "RewardRuleIn", "AgreementIn", "AgreementOut",
            "CalendarIn", "CalendarOut"} <= set(schemas)
    assert "patch" in spec["paths"]["/api/v1/programs/{slug}"]


def test_sales_see_launched_programs_but_not_drafts(api, make_user, db):
    factories.program(slug="live")
    factories.program(slug="drafty", status="draft")
    db.session.commit()
    rep = api(make_user("sales"))
    live = rep.get("/api/v1/programs/live")
    assert live.status_code == 200 and "code" not in live.json
    assert rep.get("/api/v1/programs/drafty").status_code == 404
