"""Accounts: creation and changes, sign-in with lock-out, API tokens."""
from datetime import timedelta

from sqlalchemy import func, inspect, or_, select, update
from sqlalchemy.orm import joinedload

from referral_app.errors import Conflict, NotFound, ValidationFailed
from referral_app.extensions import db
from referral_app.models import ApiToken, Lead, User
from referral_app.models.base import utcnow
from referral_app.models.user import REFERRER_KINDS, ROLES, hash_token
from referral_app.services import token_cache

# How often a token's `last_used_at` is written: to the minute is all a list needs.
USE_STAMPED_EVERY = timedelta(minutes=1)


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def create_user(email: str, role: str, password: str | None = None, name: str = "",
                kind: str | None = None, company: str | None = None,
                product: str | None = None) -> User:
    email = normalise_email(email)
    errors = {}
    if "@" not in email or len(email) > 254:
        errors["email"] = ["Enter a valid e-mail address."]
    _check_role(role, kind, errors)
    if password is not None and len(password) < 8:
        errors["password"] = ["Use at least 8 characters."]
    if errors:
        raise ValidationFailed("Some fields are not valid.", errors)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"{email} already has an account.", code="duplicate")
    user = User(email=email, role=role, name=name.strip(), kind=kind, company=company,
                product=product)
    if password:
        user.set_password(password)
    db.session.add(user)
    db.session.flush()
    return user


def _check_role(role: str, kind: str | None, errors: dict) -> None:
    if role not in ROLES:
        errors["role"] = [f"Role must be one of: {', '.join(ROLES)}."]
    if role == "referrer" and kind not in REFERRER_KINDS:
        errors["kind"] = ["A referrer is a customer or a partner."]
    if role != "referrer" and kind is not None:
        errors["kind"] = ["Only referrers have a kind."]


def update_user(user_id: int, *, actor_id: int | None, name: str, role: str,
                kind: str | None, product: str | None, manager_id: int | None,
                active: bool, away: bool) -> User:
    """Change who a user is: name, role (with a referrer's kind, a rep's product and
    manager), whether they may sign in (`active`) and whether round robin skips them
    (`away`, sales only). A deactivated user's session and API tokens stop working; their
    open leads stay theirs until a manager reassigns them (see `open_leads_of`)."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("No such user.")
    errors: dict = {}
    _check_role(role, kind, errors)
    product = (product or "").strip() or None
    if product and len(product) > 100:
        errors["product"] = ["At most 100 characters."]
    if manager_id is not None:
        manager = db.session.get(User, manager_id)
        if manager is None or manager.role != "sales_manager" or not manager.active \
                or manager.id == user.id:
            errors["manager_id"] = ["Choose an active sales manager."]
    if not active and user.id == actor_id:
        errors["active"] = ["You cannot deactivate yourself."]
    if user.role == "admin" and user.active and (role != "admin" or not active) \
            and not _other_active_admin(user.id):
        errors.setdefault("role" if role != "admin" else "active", [
            "Interlock needs at least one active admin: make someone else admin first."])
    if errors:
        raise ValidationFailed("Some fields are not valid.", errors)
    user.name, user.role, user.kind = (name or "").strip()[:200], role, kind
    user.product = product if role in ("sales", "sales_manager") else None
    user.manager_id = manager_id if role == "sales" else None
    user.active, user.away = active, bool(away) and role in ("sales", "sales_manager")
    db.session.flush()
    return user


def _other_active_admin(user_id: int) -> bool:
    return db.session.scalar(select(User.id).where(
        User.role == "admin", User.active.is_(True), User.id != user_id).limit(1)) is not None


def open_leads_of(user_id: int) -> int:
    """How many open leads a user owns (what a manager must reassign when they leave)."""
    return db.session.scalar(select(func.count()).select_from(Lead).where(
        Lead.owner_id == user_id, Lead.is_open.is_(True)))


def managers() -> list[User]:
    """Active sales managers, by name: the choices of a rep's manager."""
    return list(db.session.scalars(select(User).where(
        User.role == "sales_manager", User.active.is_(True)).order_by(User.name, User.email)))


def authenticate(email: str, password: str, max_failures: int = 5,
                 lockout: timedelta = timedelta(minutes=15)) -> tuple[User | None, str | None]:
    """(user, None) on success, or (None, reason) with reason 'invalid' or 'locked'."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    now = utcnow()
    if user is None:
        return None, "invalid"
    if user.locked_until and user.locked_until > now:
        return None, "locked"
    if not user.active or not user.check_password(password):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until = now + lockout
            user.failed_logins = 0
        db.session.flush()
        return None, "invalid"
    user.failed_logins = 0
    user.locked_until = None
    db.session.flush()
    return user, None


def create_token(email: str, name: str = "") -> str:
    """Issue an API token for the user; returns the plain token (stored only hashed)."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise ValidationFailed(f"No user {email}.", {"email": ["No such user."]})
    token, plain = ApiToken.issue(user, name)
    db.session.add(token)
    db.session.flush()
    return plain


def user_for_token(plain: str) -> User | None:
    """The active user behind a token that is not revoked (see `lookup_token`)."""
    return lookup_token(plain)[0]


def lookup_token(plain: str) -> tuple[User | None, int | None]:
    """(the active user behind a token that is not revoked, or None; the id of the token
    when its `last_used_at` is due to be stamped, or None). Remembered a few seconds in
    each process (token_cache). The caller stamps with `stamp_use` once its own transaction
    is over: a write in another transaction before it would, on SQLite, leave the request's
    snapshot stale and its own writes refused."""
    user, token_id = lookup_identity(plain)
    return (attached(user) if user is not None else None), token_id


def attached(user: User) -> User:
    """`user` in this session: the token cache's detached copy merged in (no query), or
    the user itself when it was just read."""
    return db.session.merge(user, load=False) if inspect(user).detached else user


def lookup_identity(plain: str) -> tuple[User | None, int | None]:
    """lookup_token's answer, the user possibly the token cache's detached copy (its columns
    loaded, no relationships): the API attaches it only when a request needs more."""
    if not plain:
        return None, None
    digest = hash_token(plain)
    cache = token_cache.for_app()
    known = cache.get(digest)
    if known is not None:
        return known, None
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
        .options(joinedload(ApiToken.user))  # one query, not two
    )
    if token is None or not token.user.active:
        cache.forget(digest)  # remembered until now: revoked or deactivated since
        return None, None
    cache.put(digest, token.user)
    due = token.last_used_at is None or utcnow() - token.last_used_at >= USE_STAMPED_EVERY
    return token.user, token.id if due else None


def stamp_use(token_id: int, now) -> None:
    """Record when a token was last used (to the minute), for admins deciding whether a
    token can go. In its own short transaction, the one exception to "the caller commits":
    the request's may be read-only or rolled back, and the stamp must not depend on it."""
    with db.engine.begin() as connection:
        connection.execute(update(ApiToken.__table__).where(ApiToken.id == token_id)
                           .values(last_used_at=now))


def tokens(email: str | None = None) -> list[ApiToken]:
    """Every API token, or one user's, newest first (revoked ones included)."""
    query = select(ApiToken).join(ApiToken.user).options(joinedload(ApiToken.user))
    if email:
        query = query.where(User.email == normalise_email(email))
    return list(db.session.scalars(query.order_by(ApiToken.created_at.desc(),
                                                  ApiToken.id.desc())))


def revoke_token(token_or_prefix: str, at=None) -> ApiToken:
    """Revoke the token given in full or by the prefix that lists show ("il_Ab3xY9k…").
    Revoking a revoked token changes nothing."""
    text = (token_or_prefix or "").strip().rstrip("…").rstrip(".")
    found = db.session.scalars(select(ApiToken).where(
        or_(ApiToken.token_hash == hash_token(text), ApiToken.prefix == text))).all()
    if not found:
        raise NotFound(f"No API token {text!r}: give the token or its prefix as listed.")
    if len(found) > 1:
        raise Conflict(f"{len(found)} tokens start with {text!r}: give the whole token.",
                       code="ambiguous")
    return revoke(found[0], at)


def revoke(token: ApiToken, at=None) -> ApiToken:
    """Revoke this token (once: a second revocation keeps the first instant)."""
    token.revoked_at = token.revoked_at or at or utcnow()
    db.session.flush()
    return token


def find_users(text: str = "", role: str = "", page: int = 1,
               per_page: int = 50) -> tuple[list[User], int]:
    """One page of users (by role, then e-mail) whose e-mail or name contains `text`, of
    `role` if given; and how many match. There are as many referrers as customers."""
    query = select(User)
    text = (text or "").strip().lower()
    if text:
        query = query.where(or_(User.email.contains(text, autoescape=True),
                                func.lower(User.name).contains(text, autoescape=True)))
    if role in ROLES:
        query = query.where(User.role == role)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(User.role, User.email)
                              .limit(per_page).offset((page - 1) * per_page)).all()
    return list(rows), total
