"""Console pages: who may open them, the program form with its rules, preview, sign-off, edits."""
from decimal import Decimal

import pytest

from referral_app.models import Agreement, MqlDefinition, Program, RejectionReason
from referral_app.services import agreements
from tests import factories

PAGES = ["/programs/", "/programs/new", "/programs/agreements", "/programs/agreements/edit",
         "/programs/definitions", "/programs/glossary", "/programs/calendars"]


@pytest.fixture
def world(db, marketer):
    calendar = factories.calendar(name="NYC office")
    factories.agreement(product="Widget", cal=calendar, created_by_id=marketer.id)
    program = factories.program(slug="widget-friends", product="Widget",
                                rules=[("give", "submitted", "percent", 20),
                                       ("get", "won", "fixed", 100)])
    db.session.commit()
    return program


@pytest.mark.parametrize("path", [*PAGES, "/programs/widget-friends"])
def test_pages_render_for_marketing(web, marketer, world, path):
    response = web(marketer).get(path)
    assert response.status_code == 200, response.data[:300]
    assert b"<h1>" in response.data


@pytest.mark.parametrize("path", [*PAGES, "/programs/widget-friends"])
def test_pages_are_403_for_referrers(web, referrer, world, path):
    assert web(referrer).get(path).status_code == 403


@pytest.mark.parametrize("role, allowed", [
    ("sales", {"/programs/glossary", "/programs/agreements"}),
    ("sales_manager", {"/programs/glossary", "/programs/agreements", "/programs/agreements/edit"}),
    ("admin", set(PAGES)),
])
def test_pages_by_role(web, make_user, world, role, allowed):
    client = web(make_user(role))
    for path in PAGES:
        assert client.get(path).status_code == (200 if path in allowed else 403), path


def _form(**overrides):
    form = {"name": "Widget Friends 2", "slug": "widget-friends-2", "product": "Widget",
            "referrer_kinds": ["customer", "partner"],
            "share_message": "{referrer_first_name} says: get {offer} at {link}",
            "landing_headline": "Welcome", "landing_body": "**Bold** offer", "give_offer": "20% off",
            "attribution_window_days": "90", "velocity_per_hour": "10", "velocity_per_ip": "20",
            "coupon_format": "REF-{code}",
            "rewards-0-side": "give", "rewards-0-kind": "percent", "rewards-0-amount": "20",
            "rewards-0-currency": "USD", "rewards-0-trigger": "submitted",
            "rewards-0-hold_days": "0", "rewards-0-tiers": "",
            "rewards-1-side": "get", "rewards-1-kind": "fixed", "rewards-1-amount": "",
            "rewards-1-currency": "USD", "rewards-1-trigger": "won", "rewards-1-hold_days": "0",
            "rewards-2-side": "get", "rewards-2-kind": "fixed", "rewards-2-amount": "100",
            "rewards-2-currency": "USD", "rewards-2-trigger": "won", "rewards-2-hold_days": "14",
            "rewards-2-requires_approval": "y", "rewards-2-tiers": "5:150",
            "rewards-2-cap_per_referrer": "10"}
    form.update(overrides)
    return form


def test_create_a_program_through_the_form(web, marketer, db):
    client = web(marketer)
    response = client.post("/programs/new", data=_form())
    assert response.status_code == 302
    program = db.session.scalar(db.select(Program).where(Program.slug == "widget-friends-2"))
    assert program.status == "draft" and program.created_by_id == marketer.id
    rules = sorted(program.rules, key=lambda r: r.side)
    assert [(r.side, r.amount, r.hold_days, r.requires_approval) for r in rules] == [
        ("get", Decimal("100.00"), 14, True), ("give", Decimal("20.00"), 0, False)]
    assert rules[0].tiers == [{"from": 5, "amount": "150.00"}] and rules[0].cap_per_referrer == 10
    page = client.get("/programs/widget-friends-2")
    assert b"Your friend gets 20% off; you get $100 when they become a customer" in page.data
    launched = client.post("/programs/widget-friends-2/status", data={"to": "active"})
    assert launched.status_code == 303
    db.session.refresh(program)
    assert program.status == "active"
    refused = client.post("/programs/widget-friends-2/status", data={"to": "draft"})
    assert refused.status_code == 303
    assert b"cannot become draft" in client.get("/programs/widget-friends-2").data
    db.session.refresh(program)
    assert program.status == "active"


def test_form_errors_show_beside_their_fields(web, marketer, world, db):
    client = web(marketer)
    response = client.post("/programs/new", data=_form(
        slug="widget-friends", share_message="Hi {frend}", **{
            "rewards-2-amount": "150", "rewards-2-kind": "percent", "rewards-0-currency": "ABC"}))
    assert response.status_code == 422
    html = response.data.decode()
    assert "Unknown placeholder {frend}" in html
    assert "A percentage cannot be more than 100." in html
    assert "ABC is not an ISO 4217 currency code" in html
    duplicate = client.post("/programs/new", data=_form(slug="widget-friends"))
    assert duplicate.status_code == 409 and "already exists" in duplicate.data.decode()
    assert db.session.scalar(db.select(db.func.count(Program.id))) == 1


def test_live_preview_renders_the_three_views(web, marketer):
    response = web(marketer).post("/programs/preview", data=_form())
    html = response.data.decode()
    assert response.status_code == 200 and "<html" not in html  # a fragment for the page
    assert "Portal card" in html and "Landing page" in html and "Share e-mail" in html
    assert "<strong>Bold</strong> offer" in html
    assert "Alex says: get 20% off at http://localhost/r/SAMPLE42" in html
    assert "Your friend gets 20% off; you get $100 when they become a customer" in html
    broken = web(marketer).post("/programs/preview", data=_form(share_message="{nope}"))
    assert "Unknown placeholder {nope}" in broken.data.decode()


def test_the_edit_page_loads_the_preview_script_and_no_inline_script(web, marketer, world):
    html = web(marketer).get("/programs/widget-friends").data.decode()
    assert 'src="/static/js/programs.js"' in html and 'data-preview-url="/programs/preview"' in html
    assert "<script>" not in html and " style=" not in html


def test_dual_sign_off_through_the_agreement_page(web, marketer, manager, world, db):
    draft_page = web(manager).post("/programs/agreements/edit", data={
        "product": "Widget", "calendar_id": str(db.session.scalar(db.select(Agreement.calendar_id))),
        "first_attempt_hours": "3", "first_attempt_clock": "business", "max_attempts": "4",
        "attempt_window_days": "16", "decision_hours": "8", "monthly_qualified_leads": "80",
        "min_acceptance_rate": "65", "review_cadence_days": "14", "notes": ""})
    assert draft_page.status_code == 302
    draft = agreements.pending("Widget")
    assert draft.version == 2 and draft.min_acceptance_rate == Decimal("0.65")
    page = web(marketer).get("/programs/agreements").data.decode()
    assert "Version 2 — draft" in page and "Sign for marketing" in page
    assert "First attempt within (hours)" in page and "MQLs per month" in page  # the diff
    web(marketer).post(f"/programs/agreements/{draft.id}/sign")
    db.session.refresh(draft)
    assert draft.status == "draft"
    assert "Sign for" not in web(marketer).get("/programs/agreements").data.decode()
    web(manager).post(f"/programs/agreements/{draft.id}/sign")
    db.session.refresh(draft)
    assert draft.status == "in_force" and agreements.current("Widget").version == 2
    assert "Sales makes the first attempt within 3 business hours" in \
        web(manager).get("/programs/glossary").data.decode()


def test_definitions_editor_saves_rules_checklist_and_reasons(web, marketer, world, db):
    client = web(marketer)
    response = client.post("/programs/definitions", data={
        "product": "Widget", "threshold": "40",
        "rules-0-field": "company_size", "rules-0-operator": ">=", "rules-0-value": "50",
        "rules-0-points": "20",
        "rules-1-field": "country", "rules-1-operator": "in", "rules-1-value": "US, CA",
        "rules-1-points": "10",
        "rules-2-field": "", "rules-2-operator": "=", "rules-2-value": "", "rules-2-points": "",
        "sql_checklist": "Budget confirmed\nDecision maker reached\n"})
    assert response.status_code == 302
    definition = db.session.scalar(db.select(MqlDefinition))
    assert definition.threshold == 40 and [r.value for r in definition.rules] == [50, ["US", "CA"]]
    assert definition.sql_checklist == ["Budget confirmed", "Decision maker reached"]
    client.post("/programs/definitions/reasons", data={"kind": "reject", "label": "Not a fit"})
    assert db.session.scalar(db.select(RejectionReason.label)) == "Not a fit"
    glossary = client.get("/programs/glossary").data.decode()
    assert "+20 points when the company size is at least 50" in glossary
    assert "Budget confirmed" in glossary and "Not a fit" in glossary
    assert "Marketing delivers 75 marketing-qualified leads" in glossary
    bad = client.post("/programs/definitions", data={
        "product": "Widget", "threshold": "40", "rules-0-field": "company_size",
        "rules-0-operator": ">", "rules-0-value": "lots", "rules-0-points": "5",
        "sql_checklist": ""})
    assert bad.status_code == 422 and "Enter a number for this comparison." in bad.data.decode()
