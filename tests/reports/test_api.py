"""GET /api/v1/reports/funnel, /leaderboards and /sla: the contract, figures and refusals."""
import pytest

from tests.reports.conftest import Q1


@pytest.fixture
def marketing_api(api, make_user):
    return api(make_user("marketing"))


def test_funnel(world, frozen, marketing_api):
    response = marketing_api.get("/api/v1/reports/funnel", query_string=Q1)
    assert response.status_code == 200
    body = response.get_json()
    assert body["period"] == {"from": "2026-01-01", "to": "2026-03-31",
                              "timezone": "America/New_York"}
    assert body["stages"] == {"leads": 7, "mql": 6, "sql": 4, "opportunity": 3, "won": 2,
                              "lost": 1, "rejected": 1, "recycled": 1}
    assert body["entered"]["mql"] == 4
    assert body["conversions"][0] == {"from": "leads", "to": "mql", "rate": 0.8571}
    assert body["lead_to_opportunity"] == 0.4286 and body["opportunity_to_won"] == 0.6667
    assert (body["won_value"], body["average_won_value"]) == ("3000.00", "1500.00")
    assert (body["purchases"], body["purchase_revenue"]) == (2, "3000.00")
    assert body["referral_to_purchase"] == 0.2857
    assert (body["reward_cost"], body["cost_per_won"]) == ("200.00", "100.00")


def test_funnel_for_a_program(world, frozen, marketing_api):
    body = marketing_api.get("/api/v1/reports/funnel",
                             query_string={**Q1, "program": "alpha"}).get_json()
    assert body["program"] == "alpha" and body["stages"]["leads"] == 4
    unknown = marketing_api.get("/api/v1/reports/funnel", query_string={"program": "nope"})
    assert unknown.status_code == 422 and "program" in unknown.get_json()["error"]["fields"]


def test_funnel_says_which_currencies_its_money_is_in(world, frozen, marketing_api):
    from tests import factories

    factories.program(slug="gamma", product="Widget", rules=[
        {"side": "get", "trigger": "won", "kind": "fixed", "amount": 50, "currency": "EUR"}])
    factories.program(slug="delta", product="Gadget", rules=[("get", "won", "fixed", 100)])

    def currencies(**query):
        return marketing_api.get("/api/v1/reports/funnel",
                                 query_string={**Q1, **query}).get_json()["currencies"]

    assert currencies(program="alpha") == ["USD"]  # the world's rewards are in dollars
    assert currencies(program="gamma") == ["EUR"]
    assert currencies(product="Widget") == ["EUR", "USD"]  # the sums add both: said so
    assert currencies(product="Gadget") == ["USD"]
    assert currencies(product="Nothing") == []  # no reward rule: no currency to name


def test_leaderboards(world, frozen, api, make_user):
    client = api(make_user("sales_manager"))
    body = client.get("/api/v1/reports/leaderboards",
                      query_string={**Q1, "min_volume": 1}).get_json()
    assert body["min_volume"] == 1
    assert body["programs"]["sql"]["top"][0] == {"id": world.programs["Alpha"].id,
                                                 "name": "Alpha", "leads": 4, "count": 3,
                                                 "rate": 0.75}
    assert [e["name"] for e in body["reps"]["won"]["bottom"]] == ["R2 Person", "R1 Person"]
    assert {m: set(v) for m, v in body["reps"].items()} == {
        m: {"top", "bottom"} for m in ("sql", "opportunity", "won")}
    strict = client.get("/api/v1/reports/leaderboards", query_string=Q1).get_json()
    assert strict["unranked"] == {"programs": 2, "reps": 2} and strict["programs"]["won"]["top"] == []


def test_sla(world, frozen, marketing_api):
    body = marketing_api.get("/api/v1/reports/sla", query_string=Q1).get_json()
    (widget,) = body["products"]
    assert widget["product"] == "Widget" and widget["agreement"]["monthly_qualified_leads"] == 10
    mar = widget["months"][2]
    assert (mar["month"], mar["from"], mar["to"]) == ("2026-03", "2026-03-01", "2026-03-31")
    assert mar["marketing"] == {"mqls": 2, "target": 10, "attainment": 0.2, "accepted": 1,
                                "rejected": 0, "acceptance_rate": 0.5, "min_acceptance_rate": 0.6,
                                "volume_met": False, "quality_met": False}
    total = widget["total"]["sales"]
    assert total["first_attempt"] == {"clocks": 7, "met": 4, "breached": 3, "pending": 0,
                                      "compliance": 0.5714}
    assert total["time_to_first_attempt"] == {"timed": 6, "median_hours": 2.5, "p90_hours": 20.0}
    assert [m["month"] for m in widget["trend"]][0] == "2025-10"
    assert body["breaches"][0] == {"rep": {"id": world.users["R2"].id, "name": "R2 Person"},
                                   "first_attempt": 2, "attempt_limit": 1, "decision": 0,
                                   "total": 3}


def test_sla_for_an_unknown_product_is_empty(world, frozen, marketing_api):
    body = marketing_api.get("/api/v1/reports/sla", query_string={"product": "Gadget"}).get_json()
    assert body["products"] == [] and body["breaches"] == []


@pytest.mark.parametrize("path", ["funnel", "leaderboards", "sla"])
@pytest.mark.parametrize("args, field", [({"from": "2026-02-30"}, "from"),
                                         ({"from": "2026-03-01", "to": "2026-02-01"}, "to"),
                                         ({"to": "not-a-date"}, "to"),
                                         ({"from": "1999-12-31"}, "from")])
def test_invalid_dates_are_422_with_fields(world, marketing_api, path, args, field):
    response = marketing_api.get(f"/api/v1/reports/{path}", query_string=args)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid" and field in error["fields"]


@pytest.mark.parametrize("role", ["referrer", "sales"])
@pytest.mark.parametrize("path", ["funnel", "leaderboards", "sla"])
def test_referrers_and_reps_are_refused(world, api, make_user, role, path):
    response = api(make_user(role)).get(f"/api/v1/reports/{path}")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_without_a_token_is_401(client):
    assert client.get("/api/v1/reports/funnel").status_code == 401


def test_openapi_documents_the_report_endpoints(client):
    spec = client.get("/api/openapi.json").get_json()
    for name in ("funnel", "leaderboards", "sla"):
        operation = spec["paths"][f"/api/v1/reports/{name}"]["get"]
        assert "200" in operation["responses"] and "422" in operation["responses"]
        assert {p["name"] for p in operation["parameters"]} >= {"from", "to"}
    funnel = spec["components"]["schemas"]["FunnelOut"]["properties"]
    assert funnel["reward_cost"]["type"] == "string"
