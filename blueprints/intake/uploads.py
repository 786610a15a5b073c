"""Marketing's CSV imports (upload, mapping, progress, report) and the refused referrals."""
import secrets
from pathlib import Path

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.utils import secure_filename
from wtforms import SelectChoice

from blueprints.intake import bp
from blueprints.intake.forms import UploadForm, mapping_form
from blueprints.web import roles_required
from referral_app.extensions import db
from referral_app.jobs import IMPORTS, enqueue_after_commit
from referral_app.models import CsvImport, Program, RefusedReferral, User
from referral_app.services import imports
from referral_app.services.intake_checks import REFUSAL_CODES

PER_PAGE = 50


def _upload_folder() -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _import_or_404(import_id: int) -> CsvImport:
    csv_import = db.session.get(CsvImport, import_id)
    if csv_import is None or csv_import.kind != "referrals":
        abort(404)
    return csv_import


@bp.route("/intake/imports", methods=["GET", "POST"], endpoint="imports")
@roles_required("referral.import")
def imports_page():
    form = UploadForm()
    programs = db.session.scalars(select(Program).where(Program.status.in_(("active", "paused")))
                                  .order_by(Program.name)).all()
    form.program.choices = [SelectChoice(p.id, p.name) for p in programs]
    if form.validate_on_submit():
        upload = form.file.data
        stored = _upload_folder() / f"upload-{secrets.token_hex(12)}.csv"
        upload.save(stored)  # streamed to disk in chunks, never held whole in memory
        headers, _ = imports.header_and_preview(str(stored), rows=0)
        if not headers:
            stored.unlink(missing_ok=True)
            form.file.errors = ["This file is empty or has no header line."]
        else:
            name = secure_filename(upload.filename or "")[:300] or "upload.csv"
            csv_import = CsvImport(kind="referrals", program_id=form.program.data,
                                   user_id=current_user.id, stored_path=str(stored),
                                   filename=name, status="mapping",
                                   mapping={"_consent_attested": bool(form.attest.data)})
            db.session.add(csv_import)
            db.session.commit()
            return redirect(url_for("intake.import_mapping", import_id=csv_import.id))
    recent = db.session.scalars(select(CsvImport).where(CsvImport.kind == "referrals")
                                .order_by(CsvImport.id.desc()).limit(20)).all()
    return render_template("intake/imports.html", form=form, imports=recent), \
        422 if form.errors else 200


@bp.route("/intake/imports/<int:import_id>/mapping", methods=["GET", "POST"])
@roles_required("referral.import")
def import_mapping(import_id: int):
    csv_import = _import_or_404(import_id)
    if csv_import.status != "mapping":
        return redirect(url_for("intake.import_detail", import_id=import_id))
    headers, preview = imports.header_and_preview(csv_import.stored_path, rows=5)
    form = mapping_form(headers, imports.guess_mapping(headers))
    if form.validate_on_submit():
        chosen = form.chosen_mapping()
        if chosen:
            csv_import.mapping = {**(csv_import.mapping or {}), **chosen}
            csv_import.status = "queued"
            db.session.flush()
            enqueue_after_commit("referral_app.jobs.imports.run_import", csv_import.id,
                                 queue=IMPORTS, job_id=f"import-{csv_import.id}")  # prefixed by enqueue
            db.session.commit()
            flash("The import has started; you can leave this page.", "success")
            return redirect(url_for("intake.import_detail", import_id=import_id))
    return render_template("intake/mapping.html", csv_import=csv_import, form=form,
                           headers=headers, preview=preview,
                           targets=imports.TARGETS), 422 if form.errors else 200


@bp.get("/intake/imports/<int:import_id>")
@roles_required("referral.import")
def import_detail(import_id: int):
    return render_template("intake/import.html", csv_import=_import_or_404(import_id))


@bp.get("/intake/imports/<int:import_id>/status")
@roles_required("referral.import")
def import_status(import_id: int):
    """What the progress bar polls (static/js/imports.js)."""
    csv_import = _import_or_404(import_id)
    done = csv_import.status == "done"
    return jsonify({
        "status": csv_import.status, "processed": csv_import.processed,
        "total": csv_import.total_rows, "created": csv_import.created,
        "duplicates": csv_import.duplicates, "invalid": csv_import.invalid,
        "error": csv_import.error,
        "report_url": url_for("intake.import_report", import_id=import_id) if done else None,
    })


@bp.get("/intake/imports/<int:import_id>/report.csv")
@roles_required("referral.import")
def import_report(import_id: int):
    csv_import = _import_or_404(import_id)
    if not csv_import.report_path or not Path(csv_import.report_path).exists():
        abort(404)
    name = f"{Path(csv_import.filename).stem or 'import'}-report.csv"
    return send_file(csv_import.report_path, mimetype="text/csv", as_attachment=True,
                     download_name=name)


@bp.get("/intake/refusals")
@roles_required("referral.review")
def refusals():
    page = max(request.args.get("page", 1, type=int), 1)
    reason = request.args.get("reason", "")
    query = select(RefusedReferral).order_by(RefusedReferral.id.desc())
    if reason in REFUSAL_CODES:
        query = query.where(RefusedReferral.reason == reason)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    names = dict(db.session.execute(select(Program.id, Program.name)).all())
    referrer_ids = {r.referrer_id for r in rows if r.referrer_id}
    referrers = dict(db.session.execute(select(User.id, User.email)
                                        .where(User.id.in_(referrer_ids))).all())
    return render_template("intake/refusals.html", refusals=rows, page=page, per_page=PER_PAGE,
                           total=total, reason=reason, reasons=sorted(REFUSAL_CODES),
                           program_names=names, referrers=referrers)
