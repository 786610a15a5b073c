"""Accounts: creation, sign-in with lock-out, API tokens."""
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload

from referral_app.errors import Conflict, ValidationFailed
from referral_app.extensions import db
from referral_app.models import ApiToken, User
from referral_app.models.base import utcnow
from referral_app.models.user import REFERRER_KINDS, ROLES, hash_token
from referral_app.services import token_cache


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def create_user(email: str, role: str, password: str | None = None, name: str = "",
                kind: str | None = None, company: str | None = None,
                product: str | None = None) -> User:
    email = normalise_email(email)
    errors = {}
    if "@" not in email or len(email) > 254:
        errors["email"] = ["Enter a valid e-mail address."]
    if role not in ROLES:
        errors["role"] = [f"Role must be one of: {', '.join(ROLES)}."]
    if role == "referrer" and kind not in REFERRER_KINDS:
        errors["kind"] = ["A referrer is a customer or a partner."]
    if role != "referrer" and kind is not None:
        errors["kind"] = ["Only referrers have a kind."]
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
    """The active user behind a token that is not revoked (see token_cache: a few seconds
    in each process without asking the database again)."""
    if not plain:
        return None
    digest = hash_token(plain)
    cache = token_cache.for_app()
    known = cache.get(digest)
    if known is not None:
        return db.session.merge(known, load=False)  # this session's own copy, no query
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
        .options(joinedload(ApiToken.user))  # one query, not two
    )
    if token is None or not token.user.active:
        return None
    cache.put(digest, token.user)
    return token.user


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
