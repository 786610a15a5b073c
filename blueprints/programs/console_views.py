"""Lead definitions editor, the shared glossary, and business calendars."""
from zoneinfo import available_timezones

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select
from wtforms import SelectChoice

from blueprints.programs import bp
from blueprints.programs.forms import (
    CalendarForm,
    DefinitionForm,
    ReasonForm,
    calendar_data,
    show_errors,
)
from blueprints.web import roles_required
from referral_app.errors import DomainError, ValidationFailed
from referral_app.extensions import db
from referral_app.models import Program
from referral_app.services import agreements, calendars, definitions, programs
from referral_app.services.qualification import definition_for

BLANK_RULE_ROWS = 3


def _definition_form(product: str) -> DefinitionForm:
    if request.method == "POST":
        form = DefinitionForm()
    else:
        definition = definition_for(product) if product else None
        rules = [{"field": r.field, "operator": r.operator, "points": r.points,
                  "value": ", ".join(map(str, r.value)) if isinstance(r.value, list) else r.value}
                 for r in (definition.rules if definition else [])]
        form = DefinitionForm(data={
            "product": product, "threshold": definition.threshold if definition else 50,
            "rules": rules,
            "sql_checklist": "\n".join(definition.sql_checklist) if definition else ""})
    return form


@bp.route("/definitions", methods=["GET", "POST"], endpoint="definitions")
@roles_required("definition.write")
def definitions_page():
    product = request.values.get("product", "").strip()
    form, leftover, status = _definition_form(product), [], 200
    if request.method == "POST" and form.validate():
        rows = [i for i, e in enumerate(form.rules.entries) if e.form.field.data]
        rules = [{"field": e.form.field.data, "operator": e.form.operator.data,
                  "value": e.form.value.data, "points": e.form.points.data}
                 for e in (form.rules.entries[i] for i in rows)]
        try:
            saved = definitions.save_definition(form.product.data, form.threshold.data, rules,
                                                form.sql_checklist.data.splitlines())
        except ValidationFailed as exc:
            db.session.rollback()
            leftover, status = show_errors(form, exc.fields, {"rules": (form.rules.entries, rows)}), 422
        else:
            db.session.commit()
            flash(f"The definitions for {saved.product} are saved; new leads are scored with them.",
                  "success")
            return redirect(url_for("programs.definitions", product=saved.product))
    elif request.method == "POST":
        status = 422
    for _ in range(BLANK_RULE_ROWS):  # room for new rules; blank rows are ignored on save
        form.rules.append_entry({"field": ""})
    return render_template(
        "programs/definitions.html", form=form, leftover=leftover, product=product,
        products=programs.products(), reason_form=ReasonForm(),
        reasons=definitions.reasons(active_only=False)), status



@bp.post("/definitions/reasons")
@roles_required("definition.write")
def add_reason():
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            definitions.add_reason(form.kind.data, form.label.data)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash("Reason added; sales can pick it now.", "success")
    else:
        flash("Write the reason (at most 200 characters).", "error")
    return redirect(url_for("programs.definitions", product=request.args.get("product", ""))), 303


@bp.post("/definitions/reasons/<int:reason_id>")
@roles_required("definition.write")
def toggle_reason(reason_id: int):
    reason = definitions.set_reason_active(reason_id, request.form.get("active") == "1")
    db.session.commit()
    flash(f"'{reason.label}' is {'back in' if reason.active else 'retired from'} the list.", "info")
    return redirect(url_for("programs.definitions")), 303


@bp.get("/glossary")
@roles_required("agreement.read")
def glossary():
    entries = []
    for product in programs.products():
        definition = definition_for(product)
        agreement = agreements.current(product)
        on_arrival = db.session.scalars(select(Program.name).where(
            Program.product == product, Program.mql_on_arrival.is_(True),
            Program.status.in_(("active", "paused")))).all()
        entries.append({
            "product": product, "definition": definition,
            "rules": [definitions.describe_rule(r) for r in definition.rules] if definition else [],
            "on_arrival": on_arrival,
            "agreement": agreement, "words": agreements.describe(agreement) if agreement else None,
        })
    return render_template("programs/glossary.html", entries=entries,
                           reject=definitions.reasons("reject"), lost=definitions.reasons("lost"))


def _zones() -> list[SelectChoice]:
    names = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))
    return [SelectChoice("UTC", "UTC"), *(SelectChoice(z, z.replace("_", " ")) for z in names)]


@bp.route("/calendars", methods=["GET", "POST"], endpoint="calendars")
@roles_required("calendar.write")
def calendars_page():
    form = CalendarForm()
    form.timezone.choices = _zones()
    leftover, status = [], 200
    if form.validate_on_submit():
        data = calendar_data(form)
        if data is None:
            status = 422
        else:
            try:
                calendar = calendars.create_calendar(data)
            except ValidationFailed as exc:
                db.session.rollback()
                hours = exc.fields.pop("hours", None)
                leftover, status = show_errors(form, exc.fields), 422
                leftover += [f"Opening hours: {m}" for m in hours or []]
            except DomainError as exc:
                db.session.rollback()
                form.name.errors = [*form.name.errors, exc.message]
                status = exc.status
            else:
                db.session.commit()
                flash(f"Calendar '{calendar.name}' created.", "success")
                return redirect(url_for("programs.calendars")), 303
    elif form.errors:
        status = 422
    rows = [(c, calendars.describe_hours(c.hours or {})) for c in calendars.all_calendars()]
    return render_template("programs/calendars.html", form=form, calendars=rows,
                           leftover=leftover), status
