"""Payout batches with their CSV for finance, and purchases: matching, refunds, CSV upload."""
from datetime import UTC, datetime, time, timedelta

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select

from blueprints.rewards import bp
from blueprints.rewards.forms import BatchForm, MatchForm, PurchaseUploadForm
from blueprints.web import errors_to_form, roles_required
from referral_app.errors import DomainError
from referral_app.extensions import db
from referral_app.models import CsvImport, PayoutBatch, Purchase, Referral
from referral_app.services import conversion, payouts, purchase_imports

PER_PAGE = 25


@bp.route("/payouts", methods=["GET", "POST"])
@roles_required("reward.review")
def payout_batches():
    form = BatchForm()
    if form.validate_on_submit():
        start = datetime.combine(form.period_start.data, time.min, tzinfo=UTC)
        end = datetime.combine(form.period_end.data, time.min, tzinfo=UTC) + timedelta(days=1)
        try:
            batch = payouts.create_batch(start, end, current_user.id)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            errors_to_form(form, exc, "period_start")
        else:
            flash(f"Payout batch #{batch.id} created.", "success")
            return redirect(url_for("rewards.payout_batches"))
    batches = db.session.scalars(select(PayoutBatch).order_by(PayoutBatch.id.desc()).limit(50)).all()
    return render_template("rewards/payouts.html", form=form, batches=batches,
                           totals=payouts.totals([b.id for b in batches]),
                           waiting=payouts.pending_totals(), one_day=timedelta(days=1))


@bp.get("/payouts/<int:batch_id>.csv")
@roles_required("reward.review")
def payout_csv(batch_id: int):
    db.get_or_404(PayoutBatch, batch_id)
    return Response(stream_with_context(payouts.csv_lines(batch_id)), mimetype="text/csv",
                    headers={"Content-Disposition":
                             f'attachment; filename="payout-batch-{batch_id}.csv"'})


@bp.get("/purchases")
@roles_required("purchase.review")
def purchases():
    page = max(request.args.get("page", 1, type=int), 1)
    unmatched = conversion.unmatched(PER_PAGE, (page - 1) * PER_PAGE)
    total = db.session.scalar(select(func.count(Purchase.id)).where(Purchase.status == "unmatched"))
    matched = db.session.execute(
        select(Purchase, Referral).join(Referral, Referral.id == Purchase.referral_id)
        .where(Purchase.status == "matched").order_by(Purchase.id.desc()).limit(20)).all()
    imports = db.session.scalars(select(CsvImport).where(CsvImport.kind == "purchases")
                                 .order_by(CsvImport.id.desc()).limit(10)).all()
    return render_template("rewards/purchases.html", unmatched=unmatched, total=total, page=page,
                           per_page=PER_PAGE, matched=matched, imports=imports,
                           suggestions={p.id: conversion.suggestions(p) for p in unmatched},
                           rule=conversion.ATTRIBUTION_RULE, match_form=MatchForm(),
                           upload_form=PurchaseUploadForm())


@bp.post("/purchases/<int:purchase_id>/match")
@roles_required("purchase.review")
def match_purchase(purchase_id: int):
    form = MatchForm()
    if not form.validate_on_submit():
        flash("Enter the number of the referral to match.", "error")
        return redirect(url_for("rewards.purchases"))
    try:
        conversion.match_manually(purchase_id, form.referral_id.data, current_user.id)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(" ".join(m for ms in exc.fields.values() for m in ms) or exc.message, "error")
    else:
        flash(f"Purchase matched to referral #{form.referral_id.data}.", "success")
    return redirect(url_for("rewards.purchases"))


@bp.post("/purchases/<int:purchase_id>/refund")
@roles_required("purchase.review")
def refund_purchase(purchase_id: int):
    purchase = db.get_or_404(Purchase, purchase_id)
    clawed = conversion.refund(purchase, actor_id=current_user.id)
    db.session.commit()
    flash(f"Refund recorded; {len(clawed)} reward(s) clawed back.", "success")
    return redirect(url_for("rewards.purchases"))


@bp.post("/purchases/upload")
@roles_required("purchase.review")
def upload_purchases():
    form = PurchaseUploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            row = purchase_imports.start(current_app.instance_path, upload.filename or "upload.csv",
                                         upload.stream, current_user.id)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            flash(" ".join(m for ms in exc.fields.values() for m in ms) or exc.message, "error")
        else:
            flash(f"{row.filename} is being imported; refresh to see the result.", "success")
    else:
        flash(" ".join(form.file.errors) or "Choose a CSV file.", "error")
    return redirect(url_for("rewards.purchases"))
