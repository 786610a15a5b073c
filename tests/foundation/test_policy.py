"""The `may` helper: role rules and per-object rules."""
from referral_app.models import Lead, Referral, Reward
from referral_app.policy import may


def test_role_rules(make_user):
    referrer, rep, marketing = make_user("referrer"), make_user("sales"), make_user("marketing")
    assert may(referrer, "referral.create") and not may(rep, "referral.create")
    assert may(marketing, "program.write") and not may(referrer, "program.write")
    assert may(marketing, "report.read") and not may(rep, "report.read")
    assert not may(None, "program.read")
    assert not may(marketing, "no.such.action")


def test_object_rules(make_user):
    owner, other = make_user("referrer"), make_user("referrer")
    rep, rep2, manager = make_user("sales"), make_user("sales"), make_user("sales_manager")
    referral = Referral(referrer_id=owner.id)
    assert may(owner, "referral.read", referral) and not may(other, "referral.read", referral)
    lead = Lead(owner_id=rep.id)
    assert may(rep, "lead.work", lead) and not may(rep2, "lead.work", lead)
    assert may(manager, "lead.read", lead) and not may(rep2, "lead.read", lead)
    assert not may(manager, "lead.work", lead)
    reward = Reward(referrer_id=owner.id)
    assert may(owner, "reward.read", reward) and not may(other, "reward.read", reward)
    assert not may(owner, "reward.review", reward)


def test_inactive_users_may_nothing(make_user, db):
    user = make_user("admin")
    user.active = False
    assert not may(user, "admin")
