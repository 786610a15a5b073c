"""Notifications through the outbox: one row per message, sent by an RQ job after commit."""
from sqlalchemy import select

from referral_app.extensions import db
from referral_app.jobs import NOTIFY, enqueue_after_commit
from referral_app.models import Notification, User


def notify(kind: str, subject: str, body: str, user_id: int | None = None,
           email: str | None = None, data: dict | None = None,
           dedupe_key: str | None = None) -> Notification | None:
    """Queue one notification (in-app for a user, and e-mail to `email` or the user's).

    With a `dedupe_key`, a second call for the same cause returns the first row and sends
    nothing: jobs that run twice notify once.
    """
    if dedupe_key:
        existing = db.session.scalar(select(Notification).where(Notification.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    if email is None and user_id is not None:
        user = db.session.get(User, user_id)
        email = user.email if user else None
    elif email is not None and user_id is None:
        body = body + withdrawal_footer(email)
    note = Notification(kind=kind, subject=subject[:300], body=body, user_id=user_id,
                        email=email, data=data or {}, dedupe_key=dedupe_key)
    db.session.add(note)
    db.session.flush()
    enqueue_after_commit("referral_app.jobs.notifications.send", note.id, queue=NOTIFY,
                         job_id=f"notify-{note.id}")
    return note


def withdrawal_footer(email: str) -> str:
    """Every e-mail to a referee carries a link to withdraw consent (GDPR)."""
    from flask import current_app

    from referral_app.services.privacy import withdrawal_token

    base = (current_app.config.get("PUBLIC_URL") or "http://127.0.0.1:5000").rstrip("/")
    token = withdrawal_token(current_app.config["SECRET_KEY"], email)
    return (f"\n\n--\nYou receive this because someone referred you to us. "
            f"To withdraw your consent and stop hearing from us: {base}/privacy/withdraw/{token}")


def unread_for(user_id: int, limit: int = 20) -> list[Notification]:
    return list(db.session.scalars(
        select(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .order_by(Notification.id.desc()).limit(limit)))
