"""Program service: lifecycle moves, slug rules, placeholders, reward rules in words and edits."""
from decimal import Decimal

import pytest

from referral_app.errors import InvalidTransition, ValidationFailed
from referral_app.models import Reward, RewardRule
from referral_app.services import programs, reward_rules
from tests import factories
from tests.console.conftest import program_body


def _program(db, **fields):
    program = programs.create_program(program_body(**fields))
    db.session.commit()
    return program


@pytest.mark.parametrize("path", [
    ["active"], ["active", "paused"], ["active", "paused", "active"],
    ["active", "paused", "archived"],
])
def test_allowed_lifecycle_moves(db, path):
    program = _program(db)
    for to in path:
        programs.change_status(program, to)
    assert program.status == path[-1]


@pytest.mark.parametrize("path, refused", [
    ([], "paused"), ([], "archived"), (["active"], "draft"), (["active"], "archived"),
    (["active", "paused", "archived"], "active"), (["active", "paused", "archived"], "draft"),
    (["active", "paused"], "draft"),
])
def test_refused_lifecycle_moves_are_invalid_transitions(db, path, refused):
    program = _program(db)
    for to in path:
        programs.change_status(program, to)
    with pytest.raises(InvalidTransition) as exc:
        programs.change_status(program, refused)
    assert exc.value.status == 409 and exc.value.code == "invalid_transition"
    assert program.status == (path[-1] if path else "draft")


def test_a_program_cannot_launch_without_its_messaging(db):
    program = _program(db, share_message="", landing_headline="")
    with pytest.raises(ValidationFailed) as exc:
        programs.change_status(program, "active")
    assert set(exc.value.fields) == {"share_message", "landing_headline"}
    assert program.status == "draft"


def test_an_archived_program_cannot_be_edited(db):
    program = _program(db)
    for to in ("active", "paused", "archived"):
        programs.change_status(program, to)
    with pytest.raises(InvalidTransition):
        programs.update_program(program, {"name": "Back from the dead"})


def test_slug_may_change_only_while_draft(db):
    program = _program(db)
    programs.update_program(program, {"slug": "crm-friends-2"})
    assert program.slug == "crm-friends-2"
    programs.change_status(program, "active")
    with pytest.raises(ValidationFailed) as exc:
        programs.update_program(program, {"slug": "crm-friends-3"})
    assert "slug" in exc.value.fields


@pytest.mark.parametrize("template, ok", [
    ("{referrer_first_name} says: {offer} at {link} ({code}) for {product} / {program}", True),
    ("{referrer_name} {{literal braces}} {link}", True),
    ("Hi {first_name}", False),          # unknown placeholder
    ("Hi {link", False),                 # unmatched brace
    ("{code:>99999999}", False),         # a format spec could allocate without bound
    ("{link!r}", False),
    ("{link.__class__}", False),
    ("{}", False),
])
def test_share_message_placeholders(db, template, ok):
    values, errors = programs.collect({"share_message": template}, required=False)
    assert ("share_message" not in errors) is ok, errors
    if not ok:
        assert errors["share_message"][0]


def test_unknown_placeholder_message_names_it_and_the_known_ones(db):
    _, errors = programs.collect({"share_message": "Hi {frend}"}, required=False)
    assert "{frend}" in errors["share_message"][0] and "{referrer_first_name}" in errors["share_message"][0]


@pytest.mark.parametrize("rules, words", [
    ([dict(side="give", trigger="submitted", kind="percent", amount="20"),
      dict(side="get", trigger="won", kind="fixed", amount="100")],
     "Your friend gets 20% off; you get $100 when they become a customer."),
    ([dict(side="get", trigger="sql", kind="fixed", amount="25", currency="EUR"),
      dict(side="get", trigger="purchase", kind="percent", amount="10")],
     "You get €25 when our sales team accepts them and 10% of the purchase when they make a "
     "purchase."),
    ([dict(side="get", trigger="won", kind="fixed", amount="100", cap_per_referrer=3,
           tiers=[{"from": 5, "amount": "150"}])],
     "You get $100 when they become a customer, $150 from your 5th in a year (up to 3 a year)."),
    ([dict(side="give", trigger="mql", kind="fixed", amount="12.5", currency="CHF")],
     "Your friend gets 12.50 CHF when they qualify as a lead."),
    ([], ""),
])
def test_reward_rules_in_plain_language(rules, words):
    cleaned = reward_rules.clean_rules(rules)
    assert reward_rules.describe(cleaned) == words


def test_rule_details_for_marketing():
    rule = reward_rules.clean_rules([dict(side="get", trigger="won", kind="fixed", amount="100",
                                          hold_days=14, requires_approval=True)])[0]
    assert reward_rules.describe_rule(rule, with_details=True) == (
        "you get $100 when they become a customer; held 14 days before it is issued and "
        "marketing approves it")


def test_clean_rules_normalises_values():
    rule = reward_rules.clean_rules([dict(side="get", trigger="won", kind="fixed", amount="99.999",
                                          currency="eur", hold_days="7")])[0]
    assert rule["amount"] == Decimal("100.00") and rule["currency"] == "EUR"
    assert rule["hold_days"] == 7 and rule["requires_approval"] is True


def test_editing_rules_keeps_unchanged_ones_and_retires_rules_with_rewards(db, make_user):
    program = _program(db)
    give, get = sorted(program.rules, key=lambda r: r.side == "get")
    referrer = make_user("referrer")
    lead = factories.lead(program, referrer=referrer)
    db.session.add(Reward(rule_id=get.id, referral_id=lead.referral_id, program_id=program.id,
                          referrer_id=referrer.id, side="get", trigger="won", amount=100,
                          currency="USD"))
    db.session.commit()
    programs.update_program(program, {"rewards": [
        {"side": "give", "trigger": "submitted", "kind": "percent", "amount": "20"},
        {"side": "get", "trigger": "won", "kind": "fixed", "amount": "150"},
    ]})
    db.session.commit()
    rows = db.session.scalars(db.select(RewardRule).order_by(RewardRule.id)).all()
    assert [(r.id == give.id, r.active) for r in rows if r.side == "give"] == [(True, True)]
    assert [(r.amount, r.active) for r in rows if r.side == "get"] == [
        (Decimal("100.00"), False), (Decimal("150.00"), True)]
    programs.update_program(program, {"rewards": []})
    db.session.commit()
    # Rules that earned nothing are deleted; the retired get rule stays for the ledger.
    assert [(r.amount, r.active) for r in db.session.scalars(db.select(RewardRule))] == [
        (Decimal("100.00"), False)]
