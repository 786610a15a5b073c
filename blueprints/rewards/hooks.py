"""Webhook subscriptions (admins): subscribe URLs to events, pause them, read the delivery log."""
from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from blueprints.rewards import bp
from blueprints.rewards.forms import SubscriptionForm
from blueprints.web import errors_to_form, roles_required
from referral_app.errors import DomainError
from referral_app.extensions import db
from referral_app.models import WebhookDelivery, WebhookSubscription
from referral_app.services import webhooks

PER_PAGE = 50


@bp.route("/webhooks", methods=["GET", "POST"])
@roles_required("admin")
def webhook_subscriptions():
    form = SubscriptionForm()
    if form.validate_on_submit():
        try:
            sub = webhooks.create_subscription(form.url.data, form.events.data)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            errors_to_form(form, exc, "url")
        else:
            flash(f"Subscribed {sub.url}. Verify deliveries with its secret.", "success")
            return redirect(url_for("rewards.webhook_log", sub_id=sub.id))
    subs = db.session.scalars(select(WebhookSubscription).order_by(WebhookSubscription.id)).all()
    stats: dict[int, dict] = {}
    for sub_id, status, count in db.session.execute(
            select(WebhookDelivery.subscription_id, WebhookDelivery.status, func.count())
            .group_by(WebhookDelivery.subscription_id, WebhookDelivery.status)):
        stats.setdefault(sub_id, {})[status] = count
    return render_template("rewards/webhooks.html", form=form, subs=subs, stats=stats,
                           signature_header=webhooks.SIGNATURE_HEADER)


@bp.get("/webhooks/<int:sub_id>")
@roles_required("admin")
def webhook_log(sub_id: int):
    sub = db.get_or_404(WebhookSubscription, sub_id)
    page = max(request.args.get("page", 1, type=int), 1)
    query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    deliveries = db.session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(PER_PAGE)
                                    .offset((page - 1) * PER_PAGE)).all()
    return render_template("rewards/webhook_log.html", sub=sub, deliveries=deliveries,
                           page=page, per_page=PER_PAGE, total=total,
                           signature_header=webhooks.SIGNATURE_HEADER)


@bp.post("/webhooks/<int:sub_id>/<any(pause, resume):action>")
@roles_required("admin")
def webhook_toggle(sub_id: int, action: str):
    sub = db.get_or_404(WebhookSubscription, sub_id)
    webhooks.set_active(sub, action == "resume")
    db.session.commit()
    flash(f"{sub.url} {'resumed' if sub.active else 'paused'}.", "success")
    return redirect(url_for("rewards.webhook_log", sub_id=sub.id))


@bp.post("/webhooks/deliveries/<int:delivery_id>/redeliver")
@roles_required("admin")
def webhook_redeliver(delivery_id: int):
    delivery = db.get_or_404(WebhookDelivery, delivery_id)
    webhooks.redeliver(delivery)
    db.session.commit()
    flash(f"Delivery #{delivery.id} queued again.", "success")
    return redirect(url_for("rewards.webhook_log", sub_id=delivery.subscription_id))
