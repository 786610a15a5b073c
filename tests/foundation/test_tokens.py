"""API tokens' lifecycle: last use recorded, listed and revoked from the command line and
the admin page."""
from datetime import timedelta

import time_machine
from sqlalchemy import select

from referral_app.models import ApiToken
from referral_app.services import auth
from tests.conftest import sign_in
from tests.console.conftest import program_body


def _token(db) -> ApiToken:
    db.session.expire_all()
    return db.session.scalar(select(ApiToken))


def test_a_tokens_last_use_is_recorded_to_the_minute(api, make_user, db):
    caller = api(make_user("marketing"))
    assert _token(db).last_used_at is None
    assert caller.get("/api/v1/programs").status_code == 200  # a GET: nothing committed
    first = _token(db).last_used_at
    assert first is not None
    # Looked up again (the cache forgotten), within the minute: no new write.
    auth.token_cache.for_app().clear()
    assert caller.get("/api/v1/programs").status_code == 200
    assert _token(db).last_used_at == first
    later = first + timedelta(minutes=2)
    auth.token_cache.for_app().clear()
    with time_machine.travel(later, tick=False):
        assert caller.get("/api/v1/programs").status_code == 200
    assert _token(db).last_used_at == later


def test_a_write_after_the_lookup_still_commits(api, make_user, db):
    """The stamp waits for the request's own transaction: on SQLite a write committed in
    between would leave the request's snapshot stale and its own writes refused."""
    caller = api(make_user("marketing"))
    response = caller.post("/api/v1/programs", json=program_body())
    assert response.status_code == 201, response.json
    assert _token(db).last_used_at is not None


def test_cli_lists_and_revokes_tokens(cli, api, make_user, db):
    caller = api(make_user("marketing", email="ops@example.com"))
    api(make_user("referrer", email="carla@example.com"))
    listed = cli.invoke(args=["tokens", "list", "ops@example.com"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert len(lines) == 1 and "ops@example.com" in lines[0] and "active" in lines[0]
    prefix = lines[0].split("…")[0]
    assert caller.token.startswith(prefix)
    assert len(cli.invoke(args=["tokens", "list"]).output.strip().splitlines()) == 2
    revoked = cli.invoke(args=["tokens", "revoke", prefix + "…"])
    assert revoked.exit_code == 0, revoked.output
    assert "ops@example.com" in revoked.output
    assert caller.get("/api/v1/programs").status_code == 401
    assert "revoked" in cli.invoke(args=["tokens", "list", "ops@example.com"]).output
    again = cli.invoke(args=["tokens", "revoke", caller.token])  # the whole token works too
    assert again.exit_code == 0
    missing = cli.invoke(args=["tokens", "revoke", "il_nothing"])
    assert missing.exit_code != 0 and "No API token" in missing.output


def test_a_shared_prefix_asks_for_the_whole_token(cli, api, make_user, db):
    api(make_user("marketing"))
    api(make_user("sales", product="crm"))
    for token in db.session.scalars(select(ApiToken)):
        token.prefix = "il_same000"
    db.session.commit()
    result = cli.invoke(args=["tokens", "revoke", "il_same000"])
    assert result.exit_code != 0 and "give the whole token" in result.output
    assert all(t.revoked_at is None for t in db.session.scalars(select(ApiToken)))


def test_admin_tokens_page_explains_an_empty_list_and_unused_tokens(client, make_user, db):
    admin = make_user("admin")
    sign_in(client, admin)
    assert b"No API tokens yet" in client.get("/admin/tokens").data
    auth.create_token(admin.email, "billing")
    db.session.commit()
    page = client.get("/admin/tokens").data
    assert b"No API tokens yet" not in page and b"never" in page and b"billing" in page


def test_admin_revokes_a_token_and_it_stops_at_once(client, api, make_user, db):
    caller = api(make_user("referrer"))
    assert caller.get("/api/v1/referrals").status_code == 200  # remembered by this process
    sign_in(client, make_user("admin"))
    page = client.get("/admin/tokens")
    assert caller.token[:10].encode() in page.data
    token = _token(db)
    response = client.post(f"/admin/tokens/{token.id}/revoke")  # CSRF: tests/trust
    assert response.status_code == 302
    assert _token(db).revoked_at is not None
    assert caller.get("/api/v1/referrals").status_code == 401
