"""The referrer portal: program cards, link and share texts, refer form, deals, My referrals."""
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from referral_app.models import Referral, ReferralCode, RefusedReferral, Reward, RewardRule
from referral_app.services import codes, intake
from tests import factories as f
from tests.conftest import sign_in
from tests.intake.conftest import referee

MONDAY_10_NY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
XSS = "<script>alert(1)</script>"


def form(n=1, **over):
    values = {**referee(n), "note": "She runs procurement", "consent": "y"}
    values.update(over)
    return values


def test_home_shows_the_programs_open_to_the_referrers_kind(world, db, client):
    f.program(slug="partners-only", name="Partner club", kinds=("partner",))
    f.program(slug="paused", name="Paused one", status="paused")
    world.program.share_message = "Hi, {referrer_first_name} here: try {product} at {link}"
    db.session.commit()
    page = sign_in(client, world.referrer).get("/portal/").data.decode()
    code = codes.code_for(world.referrer.id, world.program.id).code
    assert "Widget friends" in page and "Partner club" not in page and "Paused one" not in page
    assert f"/r/{code}" in page and f'value="{code}"' in page
    assert "Hi, Carla here: try Widget at http://localhost/r/" + code in page  # name filled in
    assert "20% off" in page and "$100.00" in page and "when they become a customer" in page
    assert 'data-copy="link-' in page and 'data-copy="code-' in page


def test_home_reads_every_programs_code_at_once_and_keeps_the_new_ones(world, db, client):
    for n in range(4):
        f.program(slug=f"extra-{n}", name=f"Extra {n}")
    db.session.commit()
    sign_in(client, world.referrer)
    assert client.get("/portal/").status_code == 200  # creates the five codes, commits them
    mine = db.session.scalars(select(ReferralCode).where(
        ReferralCode.referrer_id == world.referrer.id)).all()
    assert len(mine) == 5
    counted = []

    def count(conn, cursor, statement, *args):
        counted.append(statement)

    db.event.listen(db.engine, "before_cursor_execute", count)
    try:
        page = client.get("/portal/").get_data(as_text=True)
    finally:
        db.event.remove(db.engine, "before_cursor_execute", count)
    assert all(f"/r/{row.code}" in page for row in mine)  # the same codes, for good
    # The user, the programs with their rules, the codes: not a few per program (a commit
    # per card expired every program and rule read before it).
    assert len(counted) <= 5, counted


def test_program_page_has_share_texts_with_copy_buttons(world, db, client):
    page = sign_in(client, world.referrer).get("/portal/programs/widgets").data.decode()
    for key in ("email_body", "linkedin", "plain"):
        assert f'data-copy="{key}-{world.program.id}"' in page
    assert "thinks you&#39;d like Widget" in page  # the e-mail subject


def test_referring_through_the_form(world, db, client):
    sign_in(client, world.referrer)
    response = client.post("/portal/programs/widgets", data=form())
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/portal/referrals")
    referral = db.session.scalar(select(Referral))
    assert referral.source == "portal" and referral.referrer_id == world.referrer.id
    assert referral.note == "She runs procurement" and referral.lead.owner_id == world.reps[0].id


def test_form_errors_show_beside_their_fields(world, db, client):
    sign_in(client, world.referrer)
    response = client.post("/portal/programs/widgets",
                           data=form(email="nope", phone="12", consent=""))
    page = response.data.decode()
    assert response.status_code == 422
    assert 'id="email-error">Enter a valid e-mail address.' in page
    assert 'id="phone-error">Enter a valid phone number' in page
    assert 'id="consent-error">Confirm that this person agreed' in page
    assert db.session.scalar(select(func.count(Referral.id))) == 0


def test_a_duplicate_is_refused_beside_the_email_and_recorded(world, db, client):
    f.lead(world.program, email="rhea1@prospect.example")
    db.session.commit()
    sign_in(client, world.referrer)
    response = client.post("/portal/programs/widgets", data=form())
    assert response.status_code == 422
    assert 'id="email-error">We are already in touch with this person.' in response.data.decode()
    assert db.session.scalar(select(RefusedReferral.source)) == "portal"


def test_programs_of_another_kind_and_other_roles_are_refused(world, db, client, make_user):
    f.program(slug="partners-only", kinds=("partner",))
    db.session.commit()
    sign_in(client, world.referrer)
    assert client.get("/portal/programs/partners-only").status_code == 404
    assert client.get("/portal/programs/widgets/deal").status_code == 404  # partners only
    other = sign_in(client.application.test_client(), make_user("marketing"))
    assert other.get("/portal/").status_code == 403
    anonymous = client.application.test_client().get("/portal/referrals")
    assert anonymous.status_code == 302 and "/sign-in" in anonymous.headers["Location"]


def test_partner_deal_registration_with_size_value_and_conversion_rate(world, db, client):
    won = f.lead(world.program, referrer=world.partner, stage="won", email="old@deal.example")
    assert won.stage == "won"
    db.session.commit()
    sign_in(client, world.partner)
    page = client.get("/portal/programs/widgets/deal").data.decode()
    assert "100%" in page and "your conversion rate" in page
    response = client.post("/portal/programs/widgets/deal",
                           data=form(company_size="250", deal_value="48000"))
    assert response.status_code == 302
    referral = db.session.scalar(select(Referral).where(
        Referral.referee_email == "rhea1@prospect.example"))
    assert (referral.company_size, referral.deal_value) == (250, Decimal("48000.00"))
    page = client.get("/portal/programs/widgets/deal").data.decode()
    assert "50%" in page


def test_my_referrals_in_customer_words_with_contact_time_rewards_and_totals(world, db, client):
    first = intake.submit("widgets", referee(1), source="portal", referrer_id=world.referrer.id,
                          consent=True, at=MONDAY_10_NY)
    first.lead.first_attempt_at = MONDAY_10_NY + timedelta(hours=3)
    second = intake.submit("widgets", referee(2), source="api", referrer_id=world.referrer.id,
                           consent=True, at=MONDAY_10_NY)
    second.lead.stage, second.lead.is_open, second.lead.open_email = "won", False, None
    rule = db.session.scalar(select(RewardRule).where(RewardRule.side == "get"))
    for referral, status, amount in ((second, "approved", "100"), (first, "pending", "50")):
        db.session.add(Reward(rule_id=rule.id, referral_id=referral.id, program_id=world.program.id,
                              referrer_id=world.referrer.id, side="get", trigger="won",
                              status=status, amount=Decimal(amount), currency="USD"))
    f.lead(world.program, referrer=world.partner, name="Someone Else")
    db.session.commit()
    page = sign_in(client, world.referrer).get("/portal/referrals").data.decode()
    assert "contacted 3 business hours after you referred" in page
    assert "became a customer" in page and "submitted" in page
    assert "$100.00" in page and "$50.00" in page
    assert '<strong>2</strong><span>referred</span>' in page
    assert '<strong>1</strong><span>became customers</span>' in page
    assert "Rhea Referee 1" in page and "Someone Else" not in page


def test_nothing_a_referrer_or_marketing_types_reaches_the_page_unescaped(world, db, client):
    world.program.name = f"Widgets {XSS}"
    world.program.landing_headline = f"Headline {XSS}"
    world.program.give_offer = f"Offer {XSS}"
    world.program.share_message = f"Share {XSS} {{link}}"
    intake.submit("widgets", referee(name=f"Eve {XSS}", company=f"Evil {XSS}"), source="api",
                  referrer_id=world.referrer.id, consent=True)
    db.session.commit()
    sign_in(client, world.referrer)
    for path in ("/portal/", "/portal/programs/widgets", "/portal/referrals"):
        page = client.get(path).data.decode()
        assert XSS not in page, path
        assert "&lt;script&gt;" in page, path
