"""Marketing's configuration as intake's writer reads it, remembered for a few seconds in
each process: programs, MQL definitions with their rules, agreements in force with their
calendars, referrers and their codes.

A group of API referrals read them anew each time: four ORM reads, about a tenth of the
writer's CPU (bench, session 9), for rows that change a few times a year. Each process
keeps detached copies for INTAKE_CONFIG_CACHE_SECONDS (2 by default; 0 turns it off) and
merges them into the group's session without SQL (`merge(load=False)`, ~50 µs instead of
~600 µs a read) — or, with `attach=False`, hands the copies out as they are, read-only, for
a group whose new rows are plain (services/new_rows.py) and so never point an ORM row at
them: merging five a group, and the commit expiring them after, was ~18 % of the writer's
CPU (in-process, groups of 11, bench session 18); `attached` merges one later. A commit in
this process that changes any of these rows empties the cache at once; one in another
process (marketing's pages run in the web workers, the writer may be a process of its own)
counts here within those seconds, as a revoked API token does. Programs, referrers and
codes that are not found are looked up every time. A referrer is remembered as the API's
token cache remembers a caller (services/token_cache.py): a change to who they are (kind,
e-mail, active...) in this process empties the cache.
"""
from sqlalchemy import event, or_, select, tuple_
from sqlalchemy.orm import Session

from referral_app.extensions import db
from referral_app.models import (
    Agreement,
    Calendar,
    MqlDefinition,
    Program,
    ReferralCode,
    ScoringRule,
    User,
)
from referral_app.services import qualification, sla, timed_cache, token_cache

_EXTENSION = "interlock.intake_config"
# Codes never change once made (only their counters, which intake does not read), so only
# deleting one (erasing a referrer) counts.
WATCHED = (Program, MqlDefinition, ScoringRule, Agreement, Calendar)
_NONE = object()  # a product without a definition or an agreement, remembered as such


class ConfigCache(timed_cache.TimedCache):
    """key -> a detached copy of a row (with the named relationships), or _NONE."""

    def put(self, key, obj, *relations: str) -> None:
        if self.seconds > 0:
            super().put(key, _NONE if obj is None else timed_cache.detached_copy(obj, relations))


def for_app(app=None) -> ConfigCache:
    return timed_cache.for_app(_EXTENSION, "INTAKE_CONFIG_CACHE_SECONDS", ConfigCache, app)


def programs(keys: set, attach: bool = True) -> dict:
    """id or slug -> Program in this session (or its detached copy: `attach`), for each key
    that names one."""
    out, missing = _remembered_of("program", keys, attach)
    ids = [k for k in missing if isinstance(k, int)]
    slugs = [k for k in missing if isinstance(k, str)]
    if missing:
        for program in db.session.scalars(select(Program).where(
                or_(Program.id.in_(ids), Program.slug.in_(slugs)))):
            for key in (program.id, program.slug):
                if key in missing:
                    out[key] = program
                    for_app().put(("program", key), program)
    return out


def referrers(ids: set, attach: bool = True) -> dict:
    """id -> User in this session (or its detached copy), for each id that names one."""
    out, missing = _remembered_of("user", ids, attach)
    if missing:
        for user in db.session.scalars(select(User).where(User.id.in_(missing))):
            out[user.id] = user
            for_app().put(("user", user.id), user)
    return out


def definition(product: str, attach: bool = True):
    """qualification.definition_for, remembered."""
    return _remembered(("definition", product), qualification.definition_for, product,
                       "rules", attach)


def agreement(product: str, attach: bool = True):
    """sla.agreement_for, remembered."""
    return _remembered(("agreement", product), sla.agreement_for, product, "calendar",
                       attach)


def codes(pairs: list, attach: bool = True) -> dict:
    """(referrer id, program id) -> the referrer's ReferralCode in this session (or its
    detached copy), for the pairs that have one (codes never change once made)."""
    out, missing = _remembered_of("code", pairs, attach)
    if missing:
        for code in db.session.scalars(select(ReferralCode).where(
                tuple_(ReferralCode.referrer_id, ReferralCode.program_id).in_(missing))):
            pair = (code.referrer_id, code.program_id)
            out[pair] = code
            for_app().put(("code", pair), code)
    return out


def attached(obj):
    """`obj` in this session: a remembered copy merged (without SQL), a row of the session
    as it is, None as None. Before an ORM row is made to point at a copy."""
    if obj is None or obj in db.session:
        return obj
    return db.session.merge(obj, load=False)


def _remembered_of(kind: str, keys, attach: bool) -> tuple[dict, list]:
    """(key -> its remembered row, merged into this session when `attach`; the keys to
    read)."""
    cache, out, missing = for_app(), {}, []
    for key in keys:
        found = cache.get((kind, key))
        if found is None:
            missing.append(key)
        else:
            out[key] = attached(found) if attach else found
    return out, missing


def _remembered(key, read, product, relation, attach: bool):
    cache = for_app()
    found = cache.get(key)
    if found is _NONE:
        return None
    if found is not None:
        return attached(found) if attach else found
    obj = read(product)
    cache.put(key, obj, relation)
    return obj


def _changes_config(session) -> bool:
    return any(isinstance(obj, WATCHED) or token_cache.changes_a_caller(obj)
               for obj in (*session.new, *session.dirty)) or \
        any(isinstance(obj, (*WATCHED, ReferralCode, User)) for obj in session.deleted)


timed_cache.forget_on_commit(_EXTENSION, _changes_config)


@event.listens_for(Session, "do_orm_execute")
def _note_bulk_changes(orm_execute_state) -> None:
    """An UPDATE or DELETE statement on these tables counts as a change too."""
    state = orm_execute_state
    if not (state.is_update or state.is_delete) or state.bind_mapper is None:
        return
    if state.bind_mapper.class_ in (*WATCHED, User) or \
            (state.is_delete and state.bind_mapper.class_ is ReferralCode):
        timed_cache.mark_changed(state.session, _EXTENSION)
