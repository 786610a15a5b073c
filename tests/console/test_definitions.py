"""Lead definitions: scoring rules (every operator) against a table of leads, MQL, reasons."""
import pytest

from referral_app.errors import Duplicate, ValidationFailed
from referral_app.models import LeadEvent
from referral_app.services import definitions, qualification
from tests import factories

RULES = [
    {"field": "company_size", "operator": ">=", "value": 50, "points": 20},
    {"field": "title", "operator": "contains", "value": "director", "points": 15},
    {"field": "country", "operator": "in", "value": "US, CA, GB", "points": 10},
    {"field": "source", "operator": "=", "value": "referral", "points": 30},
    {"field": "company_size", "operator": "<", "value": 10, "points": -25},
    {"field": "company_size", "operator": ">", "value": 1000, "points": 5},
    {"field": "company_size", "operator": "<=", "value": 20, "points": -5},
    {"field": "email_domain", "operator": "!=", "value": "gmail.com", "points": 8},
    {"field": "company_size", "operator": "=", "value": "250", "points": 2},
]

# (referee facts, points expected, the rules that fire by index)
LEADS = [
    (dict(company_size=250, referee_title="Sales Director", referee_country="us",
          email="a@acme.example"), 20 + 15 + 10 + 30 + 8 + 2, {0, 1, 2, 3, 7, 8}),
    (dict(company_size=5, referee_title="Intern", referee_country="FR",
          email="b@gmail.com"), 30 - 25 - 5, {3, 4, 6}),
    (dict(company_size=5000, referee_title="director of ops", referee_country="DE",
          email="c@big.example"), 20 + 15 + 30 + 5 + 8, {0, 1, 3, 5, 7}),
    (dict(company_size=None, referee_title=None, referee_country=None,
          email="d@unknown.example"), 30 + 8, {3, 7}),
    (dict(company_size=20, referee_title="CTO", referee_country="GB",
          email="e@gmail.com"), 10 + 30 - 5, {2, 3, 6}),
    (dict(company_size=50, referee_title="Head", referee_country="CA",
          email="f@x.example"), 20 + 10 + 30 + 8, {0, 2, 3, 7}),
]


@pytest.fixture
def program(db):
    definitions.save_definition("Widget", 60, RULES, ["Budget confirmed", "Decision maker reached"])
    program = factories.program(product="Widget")
    db.session.commit()
    return program


@pytest.mark.parametrize("facts, points, fired", LEADS)
def test_scoring_table(db, program, facts, points, fired):
    lead = factories.lead(program, **facts)
    total, rules = qualification.score(lead)
    assert total == points
    expected = [RULES[i] for i in sorted(fired)]
    assert [(r["field"], r["operator"], r["points"]) for r in rules] == [
        (r["field"], r["operator"], r["points"]) for r in expected]


@pytest.mark.parametrize("op, actual, expected, fires", [
    ("=", "Referral", "referral", True), ("=", 50, "50.0", True), ("=", "x", "y", False),
    ("!=", "US", "us", False), ("!=", "US", "CA", True),
    (">=", 50, 50, True), (">=", 49, 50, False), ("<=", 50, 50, True), ("<=", 51, 50, False),
    (">", 51, 50, True), (">", 50, 50, False), ("<", 49, 50, True), ("<", 50, 50, False),
    (">", "abc", 5, False),
    ("contains", "Marketing Director", "DIRECTOR", True), ("contains", "VP", "director", False),
    ("in", "ca", ["US", "CA"], True), ("in", "FR", ["US", "CA"], False),
    ("in", "GB", "US, CA, GB", True), ("in", None, ["US"], False), ("=", "", "", False),
])
def test_each_operator(op, actual, expected, fires):
    assert qualification.fires(op, actual, expected) is fires


def test_qualify_moves_leads_at_or_above_the_threshold_with_the_rules_that_fired(db, program):
    high = factories.lead(program, company_size=250, referee_title="Director",
                          referee_country="US")
    low = factories.lead(program, company_size=5, email="x@gmail.com")
    assert qualification.qualify(high) is True and qualification.qualify(low) is False
    assert high.stage == "mql" and low.stage == "new"
    assert high.score >= 60 and {r["field"] for r in high.score_rules} >= {"company_size", "title"}
    event = db.session.scalar(db.select(LeadEvent).where(LeadEvent.lead_id == high.id,
                                                         LeadEvent.to_stage == "mql"))
    assert event.data["score"] == high.score


def test_mql_on_arrival_programs_skip_scoring(db):
    program = factories.program(product="Gadget", mql_on_arrival=True)
    lead = factories.lead(program)
    assert qualification.qualify(lead) is True and lead.stage == "mql"


def test_definition_is_validated_and_normalised(db):
    definition = definitions.save_definition("Widget", 10, [
        {"field": "country", "operator": "in", "value": " US ,CA,", "points": 5},
        {"field": "company_size", "operator": ">=", "value": "50", "points": 5},
    ], ["  Budget confirmed ", "", "Budget confirmed"])
    assert [r.value for r in definition.rules] == [["US", "CA"], 50]
    assert definition.sql_checklist == ["Budget confirmed"]
    with pytest.raises(ValidationFailed) as exc:
        definitions.save_definition("Widget", -1, [
            {"field": "shoe_size", "operator": "~", "value": "", "points": "many"},
            {"field": "company_size", "operator": ">", "value": "lots", "points": 1},
        ], [])
    assert {"threshold", "rules.0.field", "rules.0.operator", "rules.0.points",
            "rules.1.value"} <= set(exc.value.fields)


def test_plain_words_for_rules(db):
    definition = definitions.save_definition("Widget", 10, RULES[:3], [])
    assert [definitions.describe_rule(r) for r in definition.rules] == [
        "+20 points when the company size is at least 50",
        '+15 points when the job title contains "director"',
        "+10 points when the country is one of US, CA or GB",
    ]


def test_rejection_reasons_by_kind(db):
    definitions.add_reason("reject", "Not a fit")
    definitions.add_reason("lost", "Price")
    with pytest.raises(Duplicate):
        definitions.add_reason("reject", "Not a fit")
    retired = definitions.add_reason("reject", "Student")
    definitions.set_reason_active(retired.id, False)
    assert [r.label for r in definitions.reasons("reject")] == ["Not a fit"]
    assert [r.label for r in definitions.reasons("lost")] == ["Price"]
    assert definitions.add_reason("reject", "Student").active  # brought back, not duplicated
    with pytest.raises(ValidationFailed):
        definitions.add_reason("maybe", "")
