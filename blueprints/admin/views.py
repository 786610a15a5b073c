"""Views of the admin blueprint."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Email, Length, Optional

from blueprints.admin import bp
from blueprints.web import errors_to_form, roles_required
from referral_app.errors import DomainError
from referral_app.extensions import db
from referral_app.models import ApiToken, Notification, User
from referral_app.models.user import ROLES
from referral_app.services import auth as accounts

USERS_PER_PAGE = 50


class UserForm(FlaskForm):
    email = EmailField("E-mail", validators=[DataRequired(), Email()])
    name = StringField("Name", validators=[Length(max=200)])
    role = SelectField("Role", choices=[SelectChoice(r, r.replace("_", " ")) for r in ROLES])
    kind = SelectField("Referrer kind", choices=[SelectChoice("", "—"), SelectChoice("customer", "customer"),
                                                  SelectChoice("partner", "partner")])
    product = StringField("Product (sales)", validators=[Optional(), Length(max=100)])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8)])


class EditUserForm(FlaskForm):
    name = StringField("Name", validators=[Length(max=200)])
    role = SelectField("Role", choices=[SelectChoice(r, r.replace("_", " ")) for r in ROLES])
    kind = SelectField("Referrer kind", choices=[SelectChoice("", "—"), SelectChoice("customer", "customer"),
                                                  SelectChoice("partner", "partner")])
    product = StringField("Product (sales)", validators=[Optional(), Length(max=100)])
    manager_id = SelectField("Manager (reps)", choices=[])
    active = BooleanField("Active: may sign in and use API tokens")
    away = BooleanField("Away: round robin gives them no new leads (sales)")


class TokenForm(FlaskForm):
    email = EmailField("User e-mail", validators=[DataRequired(), Email()])
    name = StringField("What it is for", validators=[Length(max=100)])


@bp.route("/users", methods=["GET", "POST"])
@roles_required("admin")
def users():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(form.email.data, form.role.data, form.password.data,
                                        name=form.name.data, kind=form.kind.data or None,
                                        product=form.product.data or None)
        except DomainError as exc:
            db.session.rollback()
            errors_to_form(form, exc, "email")
        else:
            db.session.commit()
            flash(f"{user.email} can now sign in as {user.role.replace('_', ' ')}.", "success")
            return redirect(url_for("admin.users"))
    # Bounded: a page past the last shows nothing, not an overflowing OFFSET.
    page = min(max(request.args.get("page", 1, type=int), 1), 100_000)
    text, role = request.args.get("q", "").strip()[:100], request.args.get("role", "")
    rows, total = accounts.find_users(text, role, page, USERS_PER_PAGE)
    return render_template("admin/users.html", users=rows, form=form, total=total, page=page,
                           per_page=USERS_PER_PAGE, q=text, role=role, roles=ROLES)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def edit_user(user_id: int):
    user = db.get_or_404(User, user_id)
    form = EditUserForm(obj=user if request.method == "GET" else None)
    form.manager_id.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(m.id), m.name or m.email) for m in accounts.managers() if m.id != user.id]
    if request.method == "GET":
        form.kind.data, form.manager_id.data = user.kind or "", str(user.manager_id or "")
    if form.validate_on_submit():
        was_active = user.active
        try:
            accounts.update_user(
                user.id, actor_id=current_user.id, name=form.name.data, role=form.role.data,
                kind=form.kind.data or None, product=form.product.data,
                manager_id=int(form.manager_id.data) if form.manager_id.data else None,
                active=form.active.data, away=form.away.data)
        except DomainError as exc:
            db.session.rollback()
            errors_to_form(form, exc, "name")
        else:
            db.session.commit()
            flash(f"{user.email} saved.", "success")
            left = accounts.open_leads_of(user.id) if was_active and not user.active else 0
            if left:
                flash(f"{user.email} still owns {left} open lead{'s' if left != 1 else ''}: "
                      "reassign them on the team page.", "warning")
            return redirect(url_for("admin.users", q=user.email))
    return render_template("admin/user.html", user=user, form=form,
                           open_leads=accounts.open_leads_of(user.id))


@bp.route("/tokens", methods=["GET", "POST"])
@roles_required("admin")
def tokens():
    form = TokenForm()
    plain = None
    if form.validate_on_submit():
        try:
            plain = accounts.create_token(form.email.data, form.name.data)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            form.email.errors.append(exc.message)
    rows = db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())).all()
    return render_template("admin/tokens.html", tokens=rows, form=form, plain=plain)


@bp.post("/tokens/<int:token_id>/revoke")
@roles_required("admin")
def revoke_token(token_id: int):
    token = accounts.revoke(db.get_or_404(ApiToken, token_id))
    db.session.commit()
    flash(f"Token {token.prefix}… revoked.", "info")
    return redirect(url_for("admin.tokens"))


@bp.get("/outbox")
@roles_required("admin")
def outbox():
    page = max(request.args.get("page", 1, type=int), 1)
    query = select(Notification).order_by(Notification.id.desc())
    rows = db.session.scalars(query.limit(50).offset((page - 1) * 50)).all()
    return render_template("admin/outbox.html", notifications=rows, page=page,
                           viewer=current_user)
