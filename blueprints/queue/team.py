"""The managers' view: the team's reps (away or present), queue, unassigned leads, today's
breaches, bulk reassign."""
from zoneinfo import ZoneInfo

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from blueprints.queue import bp
from blueprints.queue.forms import ReassignForm
from blueprints.queue.present import duration_text
from blueprints.web import roles_required
from referral_app.errors import DomainError
from referral_app.extensions import db
from referral_app.models import User
from referral_app.models.base import utcnow
from referral_app.services import assignment, lead_queue, leads

PER_PAGE = 100


@bp.get("/team")
@roles_required("queue.team")
def team():
    """Everything a sales manager watches, on one page."""
    return _render(ReassignForm(prefix="bulk", formdata=None).with_reps())


def _render(form, status: int = 200):
    now = utcnow()
    team_ids = lead_queue.team_ids(current_user)
    page_no = int(request.args.get("page", "1")) if request.args.get("page", "").isdigit() else 1
    rows, total = lead_queue.page(now, page_no, PER_PAGE, owner_ids=team_ids)
    unassigned, unassigned_total = lead_queue.page(now, 1, PER_PAGE, unassigned=True)
    start, end = lead_queue.day_bounds(now, ZoneInfo(current_app.config["DISPLAY_TIMEZONE"]))
    breaches = lead_queue.breaches_between(start, end, owner_ids=team_ids)
    owner_ids = {r.lead.owner_id for r in rows} | {c.owner_id for c, _ in breaches if c.owner_id}
    owners = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(owner_ids)))}
    reps = db.session.scalars(select(User).where(User.id.in_(team_ids), User.role == "sales")
                              .order_by(User.name, User.email)).all()
    return render_template("queue/team.html", rows=rows, total=total, page=page_no,
                           per_page=PER_PAGE, unassigned=unassigned,
                           unassigned_total=unassigned_total, breaches=breaches, owners=owners,
                           form=form, duration_text=duration_text, reps=reps,
                           load=assignment.open_leads_by_owner(r.id for r in reps)), status


@bp.post("/team/reps/<int:rep_id>/away")
@roles_required("queue.team")
def rep_away(rep_id: int):
    """Mark one of the team's reps away (round robin skips them) or back."""
    rep = db.session.get(User, rep_id)
    if rep is None or rep.role != "sales" or rep_id not in lead_queue.team_ids(current_user):
        abort(404)
    away = request.form.get("away") == "1"
    assignment.set_away(rep, away)
    db.session.commit()
    name = rep.name or rep.email
    flash(f"{name} is away: round robin gives them no new leads." if away else
          f"{name} is back: round robin gives them leads again.", "success")
    return redirect(url_for("queue.team"))


@bp.post("/team/reassign")
@roles_required("lead.reassign")
def bulk_reassign():
    """Reassign the ticked leads to one rep; the first-attempt clock restarts only if asked."""
    form = ReassignForm(prefix="bulk").with_reps()
    ids = [int(i) for i in request.form.getlist("lead_ids") if i.isdigit()]
    if not ids:
        form.owner.errors = ["Tick at least one lead."]
        flash("Tick the leads to reassign.", "error")
        return _render(form, 422)
    if not form.validate_on_submit():
        return _render(form, 422)
    try:
        moved = leads.reassign_many(ids, int(form.owner.data), current_user.id,
                                    restart=form.restart.data)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render(form, exc.status)
    db.session.commit()
    target = db.session.get(User, int(form.owner.data))
    flash(f"{moved} lead(s) reassigned to {target.name or target.email}.", "success")
    return redirect(url_for("queue.team"))
