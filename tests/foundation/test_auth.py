"""Accounts: sign-in, sign-up, lock-out, tokens, hashed storage, safe redirects, CLI."""
from sqlalchemy import select

from referral_app.models import ApiToken, User
from referral_app.models.user import hash_token
from tests.conftest import sign_in


def test_sign_in_and_out(client, make_user):
    user = make_user("marketing")
    sign_in(client, user)
    assert b"Sign out" in client.get("/", follow_redirects=True).data
    response = client.post("/sign-out")
    assert response.status_code == 302
    assert client.get("/admin/users").status_code == 302  # back to sign-in


def test_wrong_password_is_refused_with_a_message(client, make_user):
    user = make_user("sales")
    response = client.post("/sign-in", data={"email": user.email, "password": "wrong password"})
    assert response.status_code == 200  # the form again, with the message beside the field
    assert b"do not match" in response.data and b"field-error" in response.data


def test_repeated_failures_lock_the_account(client, make_user, db):
    user = make_user("sales")
    for _ in range(5):
        client.post("/sign-in", data={"email": user.email, "password": "wrong password"})
    response = client.post("/sign-in", data={"email": user.email, "password": "correct horse"})
    assert b"locked" in response.data and b"Sign out" not in response.data
    db.session.expire_all()
    assert db.session.get(User, user.id).locked_until is not None


def test_referrer_self_sign_up(client, db):
    response = client.post("/sign-up", data={
        "name": "Pat Partner", "email": "Pat@Partner.Example ", "company": "Partner Co",
        "kind": "partner", "password": "long enough pw"})
    assert response.status_code == 302
    user = db.session.scalar(select(User).where(User.email == "pat@partner.example"))
    assert user.role == "referrer" and user.kind == "partner"
    assert user.password_hash.startswith("scrypt:") and "long enough" not in user.password_hash


def test_sign_up_shows_field_errors_and_refuses_duplicates(client, make_user):
    make_user("referrer", email="taken@example.com")
    response = client.post("/sign-up", data={"name": "", "email": "taken@example.com",
                                             "kind": "customer", "password": "short"})
    assert b"This field is required" in response.data
    response = client.post("/sign-up", data={"name": "X", "email": "taken@example.com",
                                             "kind": "customer", "password": "long enough pw"})
    assert b"already has an account" in response.data


def test_next_parameter_cannot_redirect_off_site(client, make_user):
    user = make_user("marketing")
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = client.post(f"/sign-in?next={target}",
                               data={"email": user.email, "password": "correct horse"})
        assert "evil" not in response.headers["Location"]
        client.post("/sign-out")
    response = client.post("/sign-in?next=/admin/users",
                           data={"email": user.email, "password": "correct horse"})
    assert response.headers["Location"] == "/admin/users"


def test_api_token_auth_and_hashed_storage(api, make_user, client, db):
    user = make_user("marketing")
    caller = api(user)
    stored = db.session.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert stored.token_hash == hash_token(caller.token) and caller.token not in stored.token_hash
    assert caller.get("/api/v1/programs/none").status_code == 404
    missing = client.get("/api/v1/programs/none")
    assert missing.status_code == 401 and missing.json["error"]["code"] == "unauthenticated"
    wrong = client.get("/api/v1/programs/none", headers={"Authorization": "Bearer il_wrong"})
    assert wrong.status_code == 401


def test_revoked_token_stops_working(api, make_user, db):
    caller = api(make_user("marketing"))
    token = db.session.scalar(select(ApiToken))
    from referral_app.models.base import utcnow

    token.revoked_at = utcnow()
    db.session.commit()
    assert caller.get("/api/v1/programs/none").status_code == 401


def test_cli_users_and_tokens(cli, db):
    result = cli.invoke(args=["users", "create", "rep@example.com", "--role", "sales",
                              "--name", "Rep One", "--password", "password123"])
    assert result.exit_code == 0, result.output
    result = cli.invoke(args=["tokens", "create", "rep@example.com"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("il_")
    assert db.session.scalar(select(ApiToken.token_hash)) == hash_token(token)
    bad = cli.invoke(args=["users", "create", "rep@example.com", "--role", "sales",
                           "--password", "password123"])
    assert bad.exit_code != 0 and "already has an account" in bad.output
    bad = cli.invoke(args=["users", "create", "x@example.com", "--role", "wizard",
                           "--password", "password123"])
    assert bad.exit_code != 0


def test_admin_pages_need_the_admin_role(client, make_user):
    sign_in(client, make_user("marketing"))
    assert client.get("/admin/users").status_code == 403
    client.post("/sign-out")
    sign_in(client, make_user("admin"))
    page = client.get("/admin/users")
    assert page.status_code == 200 and b"Add a user" in page.data


def test_the_users_page_pages_and_finds(client, db, make_user):
    # A deployment has as many referrers as customers: the page shows 50 at a time.
    from referral_app.models import User

    sign_in(client, make_user("admin"))
    db.session.add_all(User(email=f"cust{n:03}@client.example", name=f"Customer {n}",
                            role="referrer", kind="customer") for n in range(60))
    make_user("sales", email="Rita.Rep@Corp.example", name="Rita 100% Rep")
    db.session.commit()
    first = client.get("/admin/users", query_string={"role": "referrer"}).get_data(as_text=True)
    assert first.count("@client.example</a></td>") == 50 and "60 users found" in first
    assert "Page 1 of 2" in first and "page=2" in first and "role=referrer" in first
    second = client.get("/admin/users", query_string={"role": "referrer", "page": 2})
    assert second.get_data(as_text=True).count("@client.example</a></td>") == 10
    found = client.get("/admin/users", query_string={"q": "RITA.rep"}).get_data(as_text=True)
    assert "rita.rep@corp.example" in found and "1 user found" in found
    assert "1 user found" in client.get("/admin/users", query_string={"q": "100%"}).get_data(
        as_text=True)  # a literal %, not a wildcard
    none = client.get("/admin/users", query_string={"q": "nobody", "page": 10**12})
    assert none.status_code == 200 and "No user matches." in none.get_data(as_text=True)
