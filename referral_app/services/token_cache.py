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
import threading
import time

from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from referral_app.models import ApiToken, User

_EXTENSION = "interlock.token_cache"
_CHANGED = "interlock_token_cache_changed"
LARGEST = 10_000  # tokens kept at most; past that the cache starts over
# The columns that say who a caller is and what they may do. A change to another one
# (a rep's turn, a failed sign-in) leaves the cache alone: intake changes reps' turns
# in every group.
WHO = ("email", "name", "role", "kind", "company", "product", "manager_id", "active",
       "password_hash")


class TokenCache:
    """token hash -> (a detached copy of its user, when that entry lapses)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._entries: dict[str, tuple[User, float]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str, now: float | None = None) -> User | None:
        entry = self._entries.get(digest)
        if entry is None or entry[1] <= (time.monotonic() if now is None else now):
            return None
        return entry[0]

    def put(self, digest: str, user: User, now: float | None = None) -> None:
        if self.seconds <= 0:
            return
        copy = User(**{column.key: getattr(user, column.key)
                       for column in inspect(User).column_attrs})
        make_transient_to_detached(copy)  # a persistent row's state, in no session
        with self._lock:
            if len(self._entries) >= LARGEST:
                self._entries.clear()
            self._entries[digest] = (copy, (time.monotonic() if now is None else now)
                                     + self.seconds)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def for_app(app=None) -> TokenCache:
    """The app's cache, made on first use."""
    app = app or current_app._get_current_object()
    cache = app.extensions.get(_EXTENSION)
    if cache is None:
        cache = app.extensions.setdefault(
            _EXTENSION, TokenCache(float(app.config.get("API_TOKEN_CACHE_SECONDS", 2))))
    return cache


def _changes_a_caller(obj) -> bool:
    if isinstance(obj, ApiToken):
        return True
    if isinstance(obj, User):
        state = inspect(obj)
        return any(state.attrs[key].history.has_changes() for key in WHO)
    return False


@event.listens_for(Session, "after_flush")
def _note_changes(session, flush_context) -> None:
    if any(_changes_a_caller(obj) for obj in (*session.dirty, *session.deleted)):
        session.info[_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _forget_on_commit(session) -> None:
    if session.info.pop(_CHANGED, False) and has_app_context():
        for_app().clear()


@event.listens_for(Session, "after_rollback")
def _keep_on_rollback(session) -> None:
    session.info.pop(_CHANGED, None)
