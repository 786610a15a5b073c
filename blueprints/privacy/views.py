"""Views of the privacy blueprint."""
import json

from flask import Response, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Email

from blueprints.privacy import bp
from blueprints.web import roles_required
from referral_app.extensions import db, limiter
from referral_app.services import privacy


class EmailForm(FlaskForm):
    email = EmailField("E-mail address", validators=[DataRequired(), Email()])


class ConfirmForm(FlaskForm):
    pass


@bp.route("/withdraw/<token>", methods=["GET", "POST"])
@limiter.limit("20 per minute")
def withdraw(token: str):
    email = privacy.email_from_token(current_app.config["SECRET_KEY"], token)
    if email is None:
        abort(404)
    form = ConfirmForm()
    if form.validate_on_submit():
        privacy.withdraw_consent(email)
        db.session.commit()
        return render_template("privacy/withdrawn.html")
    return render_template("privacy/withdraw.html", form=form, email=email)


@bp.route("/admin", methods=["GET", "POST"])
@roles_required("admin")
def admin():
    return _page()


def _page(export_form=None, erase_form=None):
    return render_template("privacy/admin.html",
                           export_form=export_form or EmailForm(prefix="export"),
                           erase_form=erase_form or EmailForm(prefix="erase"))


@bp.post("/admin/export")
@roles_required("admin")
def export():
    form = EmailForm(prefix="export")
    if not form.validate_on_submit():
        return _page(export_form=form)
    data = privacy.export(form.email.data, actor_id=current_user.id)
    db.session.commit()
    filename = f"interlock-export-{data['email'].replace('@', '_at_')}.json"
    return Response(json.dumps(data, indent=2), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.post("/admin/erase")
@roles_required("admin")
def erase():
    form = EmailForm(prefix="erase")
    if not form.validate_on_submit():
        return _page(erase_form=form)
    counts = privacy.erase(form.email.data, actor_id=current_user.id)
    db.session.commit()
    flash("Erased: " + ", ".join(f"{n} {what}" for what, n in counts.items()) +
          ". Figures in reports are kept.", "success")
    return redirect(url_for("privacy.admin"))
