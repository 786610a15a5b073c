"""What a process remembers for a few seconds (API tokens' callers, intake's configuration):
a bounded map whose entries lapse, one per app, emptied by any commit in this process that
changes what it holds. A change made in another process counts here when the entry lapses.
"""
import threading
import time

from flask import current_app, has_app_context
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

LARGEST = 10_000  # entries kept at most; past that the cache starts over


class TimedCache:
    """key -> (value, when it lapses); `seconds` <= 0 keeps nothing.

    With `refreshing` > 0, the first `get` after an entry lapses answers None (its caller
    reads the value again and puts it, or `forget`s it), and the others get the lapsed value
    for up to `refreshing` seconds meanwhile, instead of all reading it at once.
    """

    refreshing = 0.0

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._entries: dict = {}
        self._lock = threading.Lock()

    def get(self, key):
        entry = self._entries.get(key)
        if entry is None:
            return None
        now = time.monotonic()
        if entry[1] > now:
            return entry[0]
        if self.refreshing <= 0:
            return None
        with self._lock:
            if self._entries.get(key) is entry:  # the first to see it lapse reads it again
                self._entries[key] = (entry[0], now + self.refreshing)
                return None
        return self.get(key)  # another caller is reading it again, or has

    def forget(self, key) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def put(self, key, value) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= LARGEST:
                self._entries.clear()
            self._entries[key] = (value, time.monotonic() + self.seconds)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def detached_copy(obj, relations=()):
    """A copy of a loaded row with its columns (and the named relationships, copied too),
    as if just loaded, in no session: what a cache keeps, and merges into a session with
    `merge(load=False)`. Built without __init__: no validators, no events."""
    mapper = inspect(type(obj))
    copy = mapper.class_manager.new_instance()
    for prop in mapper.column_attrs:
        set_committed_value(copy, prop.key, getattr(obj, prop.key))
    for name in relations:
        related = getattr(obj, name)
        if isinstance(related, list):
            related = [detached_copy(item) for item in related]
        elif related is not None:
            related = detached_copy(related)
        set_committed_value(copy, name, related)
    make_transient_to_detached(copy)
    return copy


def for_app(name: str, setting: str, kind=TimedCache, app=None):
    """The app's cache `name` (a `kind`), made on first use, lasting config[setting] s."""
    app = app or current_app._get_current_object()
    cache = app.extensions.get(name)
    if cache is None:
        cache = app.extensions.setdefault(name, kind(float(app.config.get(setting, 2))))
    return cache


def _flag(name: str) -> str:
    return f"{name}.changed"


def mark_changed(session: Session, name: str) -> None:
    """The cache `name` is emptied when this session's transaction commits."""
    session.info[_flag(name)] = True


def forget_on_commit(name: str, changes) -> None:
    """Empty the cache `name` after a commit in which a flush held rows that
    `changes(session)` says it holds (called from `after_flush`: new, dirty and deleted
    still list what was flushed). A rollback forgets the mark."""
    flag = _flag(name)

    @event.listens_for(Session, "after_flush")
    def _note(session, flush_context) -> None:
        if changes(session):
            mark_changed(session, name)

    @event.listens_for(Session, "after_commit")
    def _forget(session) -> None:
        if session.info.pop(flag, False) and has_app_context():
            cache = current_app.extensions.get(name)
            if cache is not None:
                cache.clear()

    @event.listens_for(Session, "after_rollback")
    def _keep(session) -> None:
        session.info.pop(flag, None)
