"""The agreement page: both sides this month, drafts and dual sign-off, version history."""
from datetime import timedelta
from decimal import Decimal

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from blueprints.programs import bp
from blueprints.programs.forms import AgreementForm, show_errors
from blueprints.web import authorize, roles_required
from referral_app.errors import DomainError, ValidationFailed
from referral_app.extensions import db
from referral_app.models import Agreement, User
from referral_app.models.base import utcnow
from referral_app.services import agreements, attainment, calendars, programs


def duration(value: timedelta | None) -> str:
    """3h 20m, or 2d 4h: how long sales took, for people."""
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    return f"{days}d {rest // 60}h" if days else f"{rest // 60}h {rest % 60:02d}m"


def _section(product: str, current, rows: dict, now) -> dict:
    draft = agreements.pending(product)
    versions = agreements.history(product)
    signed = {s.side for s in draft.signoffs} if draft else set()
    side = agreements.SIDE_OF_ROLE.get(current_user.role)
    marketing, sales = attainment.sides(current, now=now, row=rows[current.id]) \
        if current else (None, None)
    return {
        "product": product, "current": current, "draft": draft,
        "draft_changes": agreements.diff(current, draft) if draft else [],
        "words": agreements.describe(current) if current else None,
        "marketing": marketing, "sales": sales,
        "history": [(v, agreements.diff(older, v))
                    for v, older in zip(versions, [*versions[1:], None], strict=True)],
        "signed": signed,
        "may_sign": bool(draft and side and side not in signed),
    }


@bp.get("/agreements", endpoint="agreements")
@roles_required("agreement.read")
def agreements_page():
    now = utcnow()
    wanted = request.args.get("product")
    products = [p for p in programs.products() if not wanted or p == wanted]
    currents = {product: agreements.current(product) for product in products}
    rows = attainment.current_rows([a for a in currents.values() if a is not None], now)
    sections = [_section(product, currents[product], rows, now) for product in products]
    ids = {a.created_by_id for s in sections for a, _ in s["history"]} | \
        {x.user_id for s in sections if s["draft"] for x in s["draft"].signoffs}
    people = {u.id: u.name or u.email for u in
              db.session.scalars(select(User).where(User.id.in_(ids - {None})))}
    return render_template("programs/agreements.html", sections=sections, people=people,
                           duration=duration, now=now)



@bp.route("/agreements/edit", methods=["GET", "POST"])
@roles_required("agreement.write")
def agreement_edit():
    product = request.values.get("product", "").strip()
    base = (agreements.pending(product) or agreements.current(product)) if product else None
    form = AgreementForm()
    form.calendar_id.choices = [SelectChoice(c.id, c.name) for c in calendars.all_calendars()]
    if request.method == "GET" and base is not None:
        for name in AgreementForm.TERMS:
            form[name].data = getattr(base, name)
        form.min_acceptance_rate.data = int(base.min_acceptance_rate * 100)
    elif request.method == "GET":
        form.product.data = product
    leftover, status = [], 200
    if form.validate_on_submit():
        data = {name: form[name].data for name in AgreementForm.TERMS}
        data["min_acceptance_rate"] = Decimal(form.min_acceptance_rate.data) / 100
        try:
            draft = agreements.propose(data, current_user.id)
        except ValidationFailed as exc:
            db.session.rollback()
            leftover, status = show_errors(form, exc.fields), 422
        else:
            db.session.commit()
            flash(f"Version {draft.version} for {draft.product} is drafted. It takes effect when "
                  "marketing and a sales manager have both signed it.", "success")
            return redirect(url_for("programs.agreements", product=draft.product))
    elif form.errors:
        status = 422
    return render_template("programs/agreement_edit.html", form=form, base=base,
                           leftover=leftover), status


@bp.post("/agreements/<int:agreement_id>/sign")
@roles_required("agreement.sign")
def agreement_sign(agreement_id: int):
    agreement = authorize("agreement.sign", db.get_or_404(Agreement, agreement_id))
    try:
        agreements.sign(agreement, current_user)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    else:
        db.session.commit()
        if agreement.status == "in_force":
            flash(f"Both sides have signed: version {agreement.version} is in force.", "success")
        else:
            flash(f"Signed. Version {agreement.version} takes effect when the other side signs.",
                  "success")
    return redirect(url_for("programs.agreements", product=agreement.product)), 303
