"""Send one outbox notification by SMTP (MAIL_URL), or keep it in the outbox when unset."""
import smtplib
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app
from sqlalchemy import select

from referral_app.extensions import db
from referral_app.jobs.base import app_job
from referral_app.models import Notification
from referral_app.models.base import utcnow


@app_job
def send(notification_id: int) -> str:
    """Idempotent: a notification already sent (or logged) is not sent again."""
    note = db.session.scalar(select(Notification).where(Notification.id == notification_id)
                             .with_for_update())
    if note is None or note.status in ("sent", "logged"):
        return note.status if note else "missing"
    mail_url = current_app.config.get("MAIL_URL")
    if not note.email:
        note.status = "logged"
    elif not mail_url:
        note.status = "logged"  # embedded default: admins read it on the outbox page
    else:
        note.attempts += 1
        deliver(mail_url, current_app.config["MAIL_FROM"], note)
        note.status = "sent"
    note.sent_at = utcnow()
    return note.status


def deliver(mail_url: str, sender: str, note: Notification) -> None:
    """smtp://user:pass@host:port or smtps://... ; raises on failure so RQ retries."""
    url = urlsplit(mail_url)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, note.email, note.subject
    message.set_content(note.body)
    smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with smtp_class(url.hostname, url.port or (465 if url.scheme == "smtps" else 25),
                    timeout=20) as smtp:
        if url.scheme == "smtp+tls":
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(message)
