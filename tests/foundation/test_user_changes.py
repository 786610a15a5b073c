"""Admins change who a user is: role, product, manager; deactivate leavers; mark reps away."""
from sqlalchemy import select

from referral_app.models import User
from referral_app.services import assignment
from tests import factories as f
from tests.conftest import sign_in


def _form(user, **changes) -> dict:
    data = {"name": user.name, "role": user.role, "kind": user.kind or "",
            "product": user.product or "", "manager_id": str(user.manager_id or "")}
    if user.active:
        data["active"] = "y"
    if user.away:
        data["away"] = "y"
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _fresh(db, user) -> User:
    db.session.expire_all()
    return db.session.get(User, user.id)


def test_a_leaver_is_signed_out_and_their_token_stops(client, make_user, api, db):
    admin = make_user("admin")
    leaver = make_user("sales", product="Widget")
    f.lead(f.program(product="Widget"), owner=leaver)
    db.session.commit()
    leaver_api = api(leaver)
    assert leaver_api.get("/api/v1/queue").status_code == 200  # remembered by this process
    theirs = client.application.test_client()
    sign_in(theirs, leaver)
    assert theirs.get("/queue/").status_code == 200
    sign_in(client, admin)
    response = client.post(f"/admin/users/{leaver.id}", data=_form(leaver, active=None),
                           follow_redirects=True)
    assert b"still owns 1 open lead" in response.data
    assert _fresh(db, leaver).active is False
    assert theirs.get("/queue/").status_code == 302  # back to sign-in
    assert leaver_api.get("/api/v1/queue").status_code == 401
    assert client.post("/sign-in", data={"email": leaver.email,
                                         "password": "correct horse"}).status_code == 200


def test_an_away_rep_gets_no_new_leads(client, make_user, db):
    admin = make_user("admin")
    rita, remy = make_user("sales", product="Widget"), make_user("sales", product="Widget")
    sign_in(client, admin)
    page = client.get(f"/admin/users/{rita.id}")
    assert page.status_code == 200 and b"Away" in page.data
    assert client.post(f"/admin/users/{rita.id}",
                       data=_form(rita, away="y")).status_code == 302
    assert _fresh(db, rita).away is True
    present = db.session.scalars(assignment.candidates("Widget")).all()
    assert [u.id for u in present] == [remy.id]
    assert b"(away)" in client.get("/admin/users").data


def test_role_product_and_manager_change(client, make_user, db):
    admin = make_user("admin")
    manager = make_user("sales_manager", product="Widget", name="Mia Manager")
    rep = make_user("marketing")
    sign_in(client, admin)
    assert b"Mia Manager" in client.get(f"/admin/users/{rep.id}").data
    response = client.post(f"/admin/users/{rep.id}", data=_form(
        rep, role="sales", product="Widget", manager_id=str(manager.id)))
    assert response.status_code == 302
    changed = _fresh(db, rep)
    assert (changed.role, changed.product, changed.manager_id) == ("sales", "Widget", manager.id)


def test_bad_changes_are_refused_with_the_field_named(client, make_user, db):
    admin = make_user("admin")
    marketing = make_user("marketing")
    sign_in(client, admin)
    cases = [
        (admin, {"active": None}, b"cannot deactivate yourself"),
        (admin, {"role": "marketing"}, b"at least one active admin"),
        (marketing, {"role": "referrer", "kind": ""}, b"customer or a partner"),
        (marketing, {"role": "sales", "manager_id": str(marketing.id)}, b"Not a valid choice"),
    ]
    for user, changes, message in cases:
        response = client.post(f"/admin/users/{user.id}", data=_form(user, **changes))
        assert response.status_code == 200 and message in response.data, message
    assert _fresh(db, admin).active and _fresh(db, admin).role == "admin"
    assert _fresh(db, marketing).role == "marketing"
    assert client.get("/admin/users/999999").status_code == 404


def test_a_second_admin_may_demote_the_first(make_user, db):
    from referral_app.services import auth

    first, second = make_user("admin"), make_user("admin")
    auth.update_user(first.id, actor_id=second.id, name="", role="marketing", kind=None,
                     product=None, manager_id=None, active=True, away=False)
    db.session.commit()
    assert _fresh(db, first).role == "marketing"


def test_cli_updates_a_user(cli, make_user, db):
    rep = make_user("sales", product="Widget", email="rep@example.com")
    result = cli.invoke(args=["users", "update", "rep@example.com", "--away"])
    assert result.exit_code == 0 and "away" in result.output, result.output
    result = cli.invoke(args=["users", "update", "REP@example.com", "--inactive",
                              "--product", "Gadget"])
    assert result.exit_code == 0 and "deactivated" in result.output
    changed = _fresh(db, rep)
    assert (changed.active, changed.away, changed.product) == (False, True, "Gadget")
    bad = cli.invoke(args=["users", "update", "rep@example.com", "--role", "referrer"])
    assert bad.exit_code != 0 and "customer or a partner" in bad.output
    assert db.session.scalar(select(User.role).where(User.id == rep.id)) == "sales"
    missing = cli.invoke(args=["users", "update", "nobody@example.com", "--away"])
    assert missing.exit_code != 0 and "No user" in missing.output


def test_the_navigation_marks_the_section_a_page_is_under(client, make_user):
    import re

    admin, rep = make_user("admin"), make_user("sales", product="crm")
    sign_in(client, admin)

    def current(path):
        page = client.get(path).get_data(as_text=True)
        return re.findall(r'<a href="[^"]*" aria-current="page">([^<]+)</a>', page)

    assert current(f"/admin/users/{rep.id}") == ["Users"]  # under Users, not nowhere
    assert current("/admin/users") == ["Users"]
    assert current("/programs/agreements") == ["Agreement"]  # the longer prefix wins
