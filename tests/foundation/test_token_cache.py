"""API tokens' callers are remembered per process for a few seconds, and forgotten on change."""
import pytest
from sqlalchemy import event, inspect, select, update

from referral_app.models import ApiToken, User
from referral_app.models.base import utcnow
from referral_app.services import auth, timed_cache, token_cache


class Clock:
    """A frozen monotonic clock for the cache's lapse (no sleeping in tests)."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    frozen = Clock()
    monkeypatch.setattr(timed_cache, "time", frozen)
    return frozen


@pytest.fixture
def token_reads(db):
    """How many statements read api_tokens, counted from here on."""
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "FROM api_tokens" in statement:
            seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def test_a_known_token_is_not_looked_up_again(api, make_user, token_reads, clock):
    caller = api(make_user("marketing"))
    assert caller.get("/api/v1/programs").status_code == 200
    assert caller.get("/api/v1/programs").status_code == 200
    assert len(token_reads) == 1
    clock.now += 2.5  # past API_TOKEN_CACHE_SECONDS (2)
    assert caller.get("/api/v1/programs").status_code == 200
    assert len(token_reads) == 2


def test_the_remembered_caller_is_this_sessions_own_row(app, db, make_user, clock):
    user = make_user("referrer")
    plain = auth.create_token(user.email)
    db.session.commit()
    with app.test_request_context():
        first = auth.user_for_token(plain)
        db.session.remove()
        again = auth.user_for_token(plain)
        assert again is not first and inspect(again).persistent
        assert again.id == user.id and again.role == "referrer" and again.kind == "customer"
        assert len(again.tokens) == 1  # its relationships load as any row's
        db.session.remove()


def test_a_revocation_in_this_process_counts_at_once(api, make_user, db, clock):
    caller = api(make_user("marketing"))
    assert caller.get("/api/v1/programs").status_code == 200  # now remembered
    token = db.session.scalar(select(ApiToken))
    token.revoked_at = utcnow()
    db.session.commit()
    assert caller.get("/api/v1/programs").status_code == 401


def test_a_role_change_in_this_process_counts_at_once(api, make_user, db, clock):
    user = make_user("marketing")
    caller = api(user)
    assert caller.get("/api/v1/programs").status_code == 200
    db.session.get(User, user.id).role = "referrer"
    db.session.commit()
    response = caller.post("/api/v1/programs", json={"name": "Nope", "product": "x"})
    assert response.status_code == 403


def test_another_process_revoking_counts_within_the_lapse(api, make_user, db, clock,
                                                          token_reads):
    caller = api(make_user("marketing"))
    assert caller.get("/api/v1/programs").status_code == 200
    # As `flask tokens revoke` in another process would: no ORM event reaches this one.
    with db.engine.begin() as conn:
        conn.execute(update(ApiToken.__table__).values(revoked_at=utcnow()))
    clock.now += 1
    assert caller.get("/api/v1/programs").status_code == 200
    clock.now += 1.5
    assert caller.get("/api/v1/programs").status_code == 401
    # The read after the lapse forgot it: no request gets the remembered caller any more.
    assert token_cache.for_app()._entries == {}
    assert caller.get("/api/v1/programs").status_code == 401
    assert len(token_reads) == 3


def test_a_reps_turn_leaves_the_cache_alone(app, db, make_user, clock):
    rep = make_user("sales", product="crm")
    plain = auth.create_token(rep.email)
    db.session.commit()
    with app.test_request_context():
        auth.user_for_token(plain)
        cache = token_cache.for_app()
        db.session.get(User, rep.id).last_assigned_at = utcnow()  # as every intake group
        db.session.commit()
        assert len(cache._entries) == 1
        db.session.get(User, rep.id).active = False
        db.session.commit()
        assert cache._entries == {}
        assert auth.user_for_token(plain) is None
        db.session.remove()


def test_wrong_tokens_are_never_remembered(app, db, client, token_reads, clock):
    for _ in range(3):
        assert client.get("/api/v1/programs",
                          headers={"Authorization": "Bearer il_wrong"}).status_code == 401
    assert len(token_reads) == 3
    assert token_cache.for_app(app)._entries == {}


def test_zero_seconds_turns_it_off(app, api, make_user, token_reads, clock, monkeypatch):
    monkeypatch.setitem(app.config, "API_TOKEN_CACHE_SECONDS", 0)
    caller = api(make_user("marketing"))
    for _ in range(2):
        assert caller.get("/api/v1/programs").status_code == 200
    assert len(token_reads) == 2


def test_the_cache_is_bounded(app, db, make_user, clock, monkeypatch):
    monkeypatch.setattr(timed_cache, "LARGEST", 2)
    user = make_user("marketing")
    cache = token_cache.TokenCache(2)
    for digest in ("a", "b", "c"):
        cache.put(digest, user)
    assert list(cache._entries) == ["c"]


def test_when_a_caller_lapses_one_request_reads_it_again_the_others_wait_for_it(
        app, db, make_user, clock):
    """The first request after the lapse reads the token again; requests meanwhile keep the
    remembered caller (no stampede of reads), for a second at most."""
    user = make_user("marketing")
    cache = token_cache.TokenCache(2)
    cache.put("digest", user)
    clock.now += 2.5
    assert cache.get("digest") is None  # this request reads the token again
    meanwhile = cache.get("digest")
    assert meanwhile is not None and meanwhile.id == user.id
    clock.now += token_cache.REFRESHING + 0.1  # that read never came back (it failed)
    assert cache.get("digest") is None  # so the next request reads it
    cache.forget("digest")  # it found the token revoked
    assert cache.get("digest") is None and cache._entries == {}
