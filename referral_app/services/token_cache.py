"""API tokens' callers, remembered for a few seconds in each process: most API requests then
touch no database before their own work.

Looking a token up costs a pooled connection's ping, the query and the rollback that gives
the connection back: three round trips and about a sixth of intake's CPU (bench, session 8).
Each process keeps what it found, keyed by the token's hash, for API_TOKEN_CACHE_SECONDS
(2 by default; 0 turns it off). A commit in this process that revokes a token or changes
who a user is (role, product, active...) empties the cache at once; one in another process
takes effect here within those seconds, as a revoked session cookie would at its next check.
Only tokens that were found are kept: a wrong token is looked up every time.
"""
from sqlalchemy import inspect

from referral_app.models import ApiToken, User
from referral_app.services import timed_cache

_EXTENSION = "interlock.token_cache"
# The columns that say who a caller is and what they may do. A change to another one
# (a rep's turn, a failed sign-in) leaves the cache alone: intake changes reps' turns
# in every group.
WHO = ("email", "name", "role", "kind", "company", "product", "manager_id", "active",
       "password_hash")


REFRESHING = 1.0  # seconds the others keep a lapsed caller while one request reads it again


class TokenCache(timed_cache.TimedCache):
    """token hash -> a detached copy of its user.

    When an entry lapses, the first request to notice reads the token again and the others
    keep the remembered caller for up to REFRESHING seconds meanwhile: with 16 threads a
    worker, a lapse made every thread under load read the token at once (4 % of a web
    worker's CPU under intake load, bench session 10). That request puts the caller back, or
    forgets it (`forget`: revoked, deactivated). A change lapses within the cache's seconds
    plus REFRESHING at most; one committed in this process still empties it at once
    (TimedCache.refreshing).
    """

    refreshing = REFRESHING

    def put(self, digest: str, user: User) -> None:
        if self.seconds <= 0:
            return
        super().put(digest, timed_cache.detached_copy(user))


def for_app(app=None) -> TokenCache:
    """The app's cache, made on first use."""
    return timed_cache.for_app(_EXTENSION, "API_TOKEN_CACHE_SECONDS", TokenCache, app)


def changes_a_caller(obj) -> bool:
    """A token, or a change to who a user is (WHO): what a remembered caller depends on."""
    if isinstance(obj, ApiToken):
        return True
    if isinstance(obj, User):
        state = inspect(obj)
        return any(state.attrs[key].history.has_changes() for key in WHO)
    return False


timed_cache.forget_on_commit(_EXTENSION, lambda session: any(
    changes_a_caller(obj) for obj in (*session.dirty, *session.deleted)))
