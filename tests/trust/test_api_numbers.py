"""Whole numbers beyond what the database stores are refused on their field, on any backend."""
import pytest

HUGE = 10**30


@pytest.mark.parametrize("path", ["/api/v1/rewards", "/api/v1/purchases", "/api/v1/programs",
                                  "/api/v1/referrals"])
def test_a_page_beyond_any_table_is_a_422_on_its_field(api, make_user, path):
    client = api(make_user("admin"))
    response = client.get(f"{path}?page={HUGE}")
    assert response.status_code == 422, response.json
    assert "page" in response.json["error"]["fields"]
    beyond = client.get(f"{path}?page=999")
    assert beyond.status_code == 200 and beyond.json["items"] == []  # an empty page, not an error


def test_an_id_beyond_any_table_is_a_422_not_a_crash(api, make_user):
    client = api(make_user("admin"))
    body = {"product": "Widget", "calendar_id": HUGE, "first_attempt_hours": 5,
            "max_attempts": 4, "attempt_window_days": 16, "decision_hours": 8,
            "monthly_qualified_leads": 10}
    response = client.post("/api/v1/agreements", json=body)
    assert response.status_code == 422, response.json
    assert "calendar_id" in response.json["error"]["fields"]


def test_the_bound_is_the_database_s_integer():
    from referral_app.schemas import MAX_INT
    from referral_app.schemas.agreements import AgreementIn

    errors = AgreementIn().validate({"calendar_id": MAX_INT + 1}, partial=True)
    assert "calendar_id" in errors
    assert "calendar_id" not in AgreementIn().validate({"calendar_id": MAX_INT}, partial=True)
