"""The referee landing page: /r/<code> shows the offer and takes the referee's own details."""
import hashlib

from flask import current_app, redirect, render_template, request, url_for

from blueprints.intake import bp
from blueprints.intake.forms import LandingForm
from blueprints.web import errors_to_form
from referral_app.errors import DomainError
from referral_app.extensions import db, limiter
from referral_app.services import codes, intake

LANDING_BYTES = 64 * 1024  # a few short fields: anything bigger is not a person typing


@bp.before_request
def small_bodies():
    if request.endpoint == "intake.landing":
        request.max_content_length = current_app.config.get("MAX_JSON_BYTES", LANDING_BYTES)


def _fingerprint() -> str:
    # Enough to see many referees coming from one browser; not an identifier by itself.
    raw = "|".join([request.headers.get("User-Agent", ""),
                    request.headers.get("Accept-Language", "")])
    return hashlib.sha256(raw.encode()).hexdigest()


def _unavailable(reason: str, program=None, status: int = 200):
    return render_template("intake/unavailable.html", reason=reason, program=program), status


@bp.route("/r/<code>", methods=["GET", "POST"])
@limiter.limit("30/minute", methods=["GET"])
@limiter.limit("10/minute", methods=["POST"])
def landing(code: str):
    code_row = codes.by_code(code[:32])
    if code_row is None:
        return _unavailable("unknown", status=404)
    program = code_row.program
    if not program.is_open:
        return _unavailable("closed", program)
    form = LandingForm()
    if request.method == "GET":
        intake.count_visit(code_row.id)
        db.session.commit()
    elif form.validate_on_submit():
        try:
            intake.submit(program, form.referee(), source="landing", code=code_row,
                          consent=form.consent.data, ip=request.remote_addr,
                          fingerprint=_fingerprint())
        except DomainError as exc:
            if intake.is_refusal(exc):
                db.session.commit()  # the refusal's record, kept for marketing's review
            else:
                db.session.rollback()
            if exc.code == "duplicate":
                return render_template("intake/thanks.html", program=program, already=True)
            if exc.code in ("program_inactive", "kind_not_allowed"):
                return _unavailable("closed", program)
            errors_to_form(form, exc, "email")
        else:
            db.session.commit()
            return redirect(url_for("intake.thanks", code=code_row.code))
    status = 422 if request.method == "POST" else 200
    return render_template("intake/landing.html", program=program, form=form,
                           referrer=code_row.referrer), status


@bp.get("/r/<code>/thanks")
@limiter.limit("30/minute")
def thanks(code: str):
    code_row = codes.by_code(code[:32])
    if code_row is None:
        return _unavailable("unknown", status=404)
    return render_template("intake/thanks.html", program=code_row.program, already=False)
