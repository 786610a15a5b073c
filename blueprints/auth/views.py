"""Views of the auth blueprint."""
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from blueprints.auth import bp
from blueprints.auth.forms import SignInForm, SignUpForm
from blueprints.web import HOME_BY_ROLE, errors_to_form
from referral_app.errors import DomainError
from referral_app.extensions import db, limiter
from referral_app.services import auth as accounts


def safe_next(target: str | None) -> str | None:
    """Only same-site relative paths: `next` must never redirect off-site."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return None
    return target


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return render_template("auth/welcome.html")
    endpoint = HOME_BY_ROLE.get(current_user.role)
    if endpoint and endpoint in current_app.view_functions:
        return redirect(url_for(endpoint))
    return render_template("auth/dashboard.html")


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def sign_in():
    form = SignInForm()
    if form.validate_on_submit():
        user, reason = accounts.authenticate(
            form.email.data, form.password.data,
            max_failures=current_app.config["LOGIN_MAX_FAILURES"],
        )
        db.session.commit()
        if user is not None:
            login_user(user)
            flash(f"Welcome back, {user.first_name}.", "success")
            return redirect(safe_next(request.args.get("next")) or url_for("auth.home"))
        if reason == "locked":
            form.email.errors.append("Too many failed attempts: this account is locked for "
                                     f"{current_app.config['LOGIN_LOCKOUT_MINUTES']} minutes.")
        else:
            form.password.errors.append("That e-mail and password do not match.")
    return render_template("auth/sign_in.html", form=form)


@bp.route("/sign-up", methods=["GET", "POST"])
@limiter.limit("5 per minute", methods=["POST"])
def sign_up():
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                form.email.data, "referrer", password=form.password.data, name=form.name.data,
                kind=form.kind.data, company=form.company.data or None,
            )
        except DomainError as exc:
            db.session.rollback()
            errors_to_form(form, exc, "email")
        else:
            db.session.commit()
            login_user(user)
            flash("Your account is ready. Pick a program and share your link.", "success")
            return redirect(url_for("auth.home"))
    return render_template("auth/sign_up.html", form=form)


@bp.post("/sign-out")
@login_required
def sign_out():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.sign_in"))
