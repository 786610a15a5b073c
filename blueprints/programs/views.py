"""Program pages: list, create, edit with reward rules, lifecycle buttons and the live preview."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import case, select

from blueprints.programs import bp
from blueprints.programs.forms import (
    ProgramForm,
    RewardRuleForm,
    program_data,
    program_initial,
    show_errors,
)
from blueprints.web import roles_required
from referral_app.errors import DomainError, ValidationFailed
from referral_app.extensions import db
from referral_app.models import Program
from referral_app.services import programs, reward_rules

STATUS_ORDER = case({"active": 0, "paused": 1, "draft": 2, "archived": 3}, value=Program.status)
BUTTONS = {"active": "Launch", "paused": "Pause", "archived": "Archive"}


def _program_or_404(slug: str) -> Program:
    program = programs.by_slug(slug)
    if program is None:
        abort(404)
    return program


@bp.get("/")
@roles_required("program.write")
def index():
    rows = db.session.scalars(select(Program).order_by(STATUS_ORDER, Program.name)).all()
    summaries = {p.id: reward_rules.describe(p.rules) for p in rows}
    return render_template("programs/index.html", programs=rows, summaries=summaries)


def _render_form(form: ProgramForm, program: Program | None, leftover=(), status=200):
    if not request.method == "POST" or not form.rewards.entries:
        form.rewards.append_entry()
    preview = programs.preview(program_data(form)[0], request.host_url)
    return render_template(
        "programs/edit.html", form=form, program=program, leftover=leftover, preview=preview,
        rule_template=RewardRuleForm(prefix="rewards-__index__-"),
        moves=[(to, BUTTONS[to]) for to in sorted(programs.TRANSITIONS.get(
            program.status if program else "", ()))],
    ), status


def _save(form: ProgramForm, program: Program | None):
    """Hand the form to the service; on refusal, show its messages next to the fields."""
    data, rows = program_data(form)
    if any(entry.form.tiers.errors for entry in form.rewards.entries):
        return None, [], 422
    try:
        if program is None:
            program = programs.create_program(data, current_user.id)
        else:
            programs.update_program(program, data)
    except ValidationFailed as exc:
        db.session.rollback()
        return None, show_errors(form, exc.fields, {"rewards": (form.rewards.entries, rows)}), 422
    except DomainError as exc:
        db.session.rollback()
        if exc.code == "duplicate":
            form.slug.errors = [*form.slug.errors, exc.message]
            return None, [], 409
        return None, [exc.message], exc.status
    db.session.commit()
    return program, [], 200


@bp.route("/new", methods=["GET", "POST"])
@roles_required("program.write")
def new():
    form = ProgramForm()
    if form.validate_on_submit():
        program, leftover, status = _save(form, None)
        if program is not None:
            flash(f"{program.name} is saved as a draft. Launch it when it is ready.", "success")
            return redirect(url_for("programs.edit", slug=program.slug))
        return _render_form(form, None, leftover, status)
    return _render_form(form, None, status=422 if form.errors else 200)


@bp.route("/<slug>", methods=["GET", "POST"])
@roles_required("program.write")
def edit(slug: str):
    program = _program_or_404(slug)
    form = ProgramForm() if request.method == "POST" else ProgramForm(data=program_initial(program))
    if form.validate_on_submit():
        saved, leftover, status = _save(form, program)
        if saved is not None:
            flash("Changes saved.", "success")
            return redirect(url_for("programs.edit", slug=saved.slug))
        db.session.refresh(program)
        return _render_form(form, program, leftover, status)
    return _render_form(form, program, status=422 if form.errors else 200)


@bp.post("/<slug>/status")
@roles_required("program.write")
def status(slug: str):
    program = _program_or_404(slug)
    to = request.form.get("to", "")
    try:
        programs.change_status(program, to)
    except DomainError as exc:
        db.session.rollback()
        details = "; ".join(f"{name.replace('_', ' ')}: {m}" for name, ms in exc.fields.items()
                            if name != "status" for m in ms)
        flash(exc.message + (f" {details}" if details else ""), "error")
        return redirect(url_for("programs.edit", slug=slug)), 303
    db.session.commit()
    flash(f"{program.name} is now {program.status}.", "success")
    return redirect(url_for("programs.edit", slug=slug)), 303


@bp.post("/preview")
@roles_required("program.write")
def preview():
    """The preview panel for the form as typed (fetched by static/js/programs.js)."""
    form = ProgramForm()
    data, _ = program_data(form)
    return render_template("programs/_preview.html", preview=programs.preview(data, request.host_url))
