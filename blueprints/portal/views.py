"""Views of the portal: program cards, one program's link and form, deals, My referrals."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from blueprints.portal import bp
from blueprints.portal.forms import DealForm, ReferForm
from blueprints.web import errors_to_form, roles_required
from referral_app.errors import DomainError
from referral_app.extensions import db
from referral_app.models import Program
from referral_app.services import codes, intake, messaging, referral_status

PER_PAGE = 25


def _program_or_404(slug: str) -> Program:
    """A program this referrer may refer to (active or paused, open to their kind)."""
    program = db.session.scalar(select(Program).where(Program.slug == slug))
    if program is None or program.status not in ("active", "paused") \
            or current_user.kind not in (program.referrer_kinds or []):
        abort(404)
    return program


def _codes(programs: list[Program]) -> tuple[dict[int, str], bool]:
    """The referrer's code for each program, created on first use and kept for good (then
    committed, which expires what the session read: the bool says so)."""
    mine, created = codes.codes_for(current_user.id, [p.id for p in programs])
    if created:
        db.session.commit()
    return mine, created


def _share(program: Program, code: str) -> dict:
    link = url_for("intake.landing", code=code, _external=True)
    return {"code": code, "link": link,
            "texts": messaging.share_texts(program, current_user, link, code)}


@bp.get("/")
@roles_required("referral.create")
def home():
    programs = referral_status.open_programs(current_user)
    mine, created = _codes(programs)
    if created:  # read the programs and their rules again at once, not card by card
        programs = referral_status.open_programs(current_user)
    cards = [{"program": program, "get_rewards": referral_status.get_rewards(program),
              **_share(program, mine[program.id])} for program in programs]
    return render_template("portal/home.html", cards=cards)


def _refer(slug: str, form_class, template: str):
    program = _program_or_404(slug)
    form = form_class()
    if form.validate_on_submit():
        try:
            referral = intake.submit(
                program, form.referee(), source="portal", referrer_id=current_user.id,
                note=form.note.data, consent=form.consent.data, ip=request.remote_addr,
                **form.extras())
        except DomainError as exc:
            if intake.is_refusal(exc):
                db.session.commit()  # the refusal's record, kept for marketing's review
            else:
                db.session.rollback()
            errors_to_form(form, exc, "email")
        else:
            db.session.commit()
            flash(f"Thank you! {referral.referee_name} is in our hands now; follow along below.",
                  "success")
            return redirect(url_for("portal.referrals"))
    context = {"program": program, "form": form,
               "get_rewards": referral_status.get_rewards(program),
               **_share(program, _codes([program])[0][program.id])}
    if isinstance(form, DealForm):
        context["totals"] = referral_status.totals(current_user.id)
    return render_template(template, **context), 422 if form.errors else 200


@bp.route("/programs/<slug>", methods=["GET", "POST"])
@roles_required("referral.create")
def program(slug: str):
    return _refer(slug, ReferForm, "portal/program.html")


@bp.route("/programs/<slug>/deal", methods=["GET", "POST"])
@roles_required("referral.create")
def deal(slug: str):
    """Deal registration: partners refer with company size and expected value."""
    if current_user.kind != "partner":
        abort(404)
    return _refer(slug, DealForm, "portal/deal.html")


@bp.get("/referrals")
@roles_required("referral.create")
def referrals():
    page = max(request.args.get("page", 1, type=int), 1)
    query = referral_status.referrals_for(current_user)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    return render_template("portal/referrals.html", referrals=rows, page=page, per_page=PER_PAGE,
                           total=total, totals=referral_status.totals(current_user.id),
                           words=referral_status.customer_stage,
                           contact=referral_status.contact_words)
