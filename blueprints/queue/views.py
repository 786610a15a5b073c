"""The rep's queue and the lead page with its actions."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from blueprints.queue import bp
from blueprints.queue.forms import (
    AcceptForm,
    AttemptForm,
    LostForm,
    OpportunityForm,
    ReassignForm,
    RecycleForm,
    RejectForm,
    WonForm,
    reason_choices,
)
from blueprints.queue.present import duration_text, score_lines, timeline
from blueprints.web import authorize, roles_required
from referral_app.errors import DomainError
from referral_app.extensions import db
from referral_app.models import Attempt, Lead, LeadEvent, Program, Referral
from referral_app.models.base import utcnow
from referral_app.models.lead import OPEN_STAGES
from referral_app.policy import may
from referral_app.services import lead_queue, leads, sla
from referral_app.services.stages import can_move

PER_PAGE = 50


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


@bp.get("/")
@roles_required("queue.own")
def index():
    """The signed-in rep's open leads, most urgent first."""
    program_id = _int_arg("program")
    stage = request.args.get("stage") if request.args.get("stage") in OPEN_STAGES else None
    page_no = _int_arg("page") or 1
    rows, total = lead_queue.page(utcnow(), page_no, PER_PAGE, owner_ids=[current_user.id],
                                  program_id=program_id, stage=stage)
    programs = db.session.execute(select(Program.id, Program.name).order_by(Program.name)).all()
    return render_template("queue/index.html", rows=rows, total=total, page=page_no,
                           per_page=PER_PAGE, programs=programs, program_id=program_id,
                           stage=stage, stages=OPEN_STAGES, duration_text=duration_text)


def _visible(lead_id: int) -> Lead:
    lead = db.session.scalar(
        select(Lead).where(Lead.id == lead_id)
        .options(selectinload(Lead.referral).selectinload(Referral.referrer),
                 selectinload(Lead.program), selectinload(Lead.owner),
                 selectinload(Lead.events).selectinload(LeadEvent.actor),
                 selectinload(Lead.attempts).selectinload(Attempt.user)))
    if lead is None:
        abort(404)
    return authorize("lead.read", lead)


def _workable(lead_id: int) -> Lead:
    """The lead for an action: 404 if the user may not see it, 403 if they may not work it."""
    lead = _visible(lead_id)
    if not may(current_user, "lead.work", lead):
        abort(403)
    return lead


def _forms(lead: Lead) -> dict:
    return {
        "attempt_form": AttemptForm(prefix="attempt", formdata=None),
        "accept_form": AcceptForm(prefix="accept", formdata=None).set_checklist(
            leads.sql_checklist(lead.product)),
        "reject_form": _with_reasons(RejectForm(prefix="reject", formdata=None), "reject"),
        "opportunity_form": OpportunityForm(prefix="opportunity", formdata=None),
        "won_form": WonForm(prefix="won", formdata=None, amount=lead.amount),
        "lost_form": _with_reasons(LostForm(prefix="lost", formdata=None), "lost"),
        "recycle_form": RecycleForm(prefix="recycle", formdata=None),
        "reassign_form": ReassignForm(prefix="reassign", formdata=None).with_reps(),
    }


def _with_reasons(form, kind: str):
    form.reason.choices = reason_choices(kind)
    return form


def _offers(lead: Lead) -> dict:
    """Which actions the page offers: only the moves this user may make from this stage."""
    works = may(current_user, "lead.work", lead)
    return {
        "attempt": works and lead.is_open and leads.why_no_more_attempts(lead, utcnow()) is None,
        "accept": works and can_move(lead, "sql"),
        "reject": works and can_move(lead, "rejected"),
        "opportunity": works and can_move(lead, "opportunity"),
        "close": works and lead.stage in ("sql", "opportunity"),
        "recycle": works and can_move(lead, "recycled"),
        "reassign": lead.is_open and may(current_user, "lead.reassign", lead),
    }


def _render(lead: Lead, status: int = 200, **bound):
    now = utcnow()
    clocks = sla.clocks_of(lead)
    count, connected = leads.attempt_stats(lead)
    forms = _forms(lead)
    forms.update(bound)
    give = lead.program.give_offer
    return render_template(
        "queue/lead.html", lead=lead, referral=lead.referral, clocks=clocks, now=now,
        timeline=timeline(lead), score_lines=score_lines(lead), attempts_used=count,
        connected=connected,
        offers=_offers(lead), refusal=leads.why_no_more_attempts(lead, now)
        if lead.is_open or lead.stage == "recycled" else None,
        seconds_left={k: lead_queue.clock_seconds_left(c, lead.agreement, now)
                      for k, c in clocks.items()},
        give_offer=give, duration_text=duration_text, **forms), status


@bp.get("/leads/<int:lead_id>")
@login_required
def lead(lead_id: int):
    """The lead page: the referral's story, timeline, SLA clocks, score and the actions."""
    return _render(_visible(lead_id))


def _act(lead: Lead, form, action, success: str):
    """Validate `form`, run `action()`, commit and go back to the lead; errors stay on the page."""
    if form.validate_on_submit():
        try:
            action()
        except DomainError as exc:
            db.session.rollback()
            lead = _visible(lead.id)
            for name, messages in exc.fields.items():
                if name in form._fields:
                    form[name].errors = list(form[name].errors) + list(messages)
            flash(exc.message, "error")
            return _render(lead, 409 if exc.status == 409 else 422, **{_key(form): form})
        db.session.commit()
        flash(success, "success")
        return redirect(url_for("queue.lead", lead_id=lead.id))
    return _render(lead, 422, **{_key(form): form})


def _key(form) -> str:
    return f"{form._prefix.rstrip('-')}_form"


def _reason(form) -> tuple[str, str]:
    return form.reason.data, (form.note.data or "").strip()


@bp.post("/leads/<int:lead_id>/attempt")
@login_required
def attempt(lead_id: int):
    lead = _workable(lead_id)
    form = AttemptForm(prefix="attempt")
    return _act(lead, form, lambda: leads.log_attempt(
        lead, current_user.id, form.channel.data, form.outcome.data, form.note.data or ""),
        "Attempt logged.")


@bp.post("/leads/<int:lead_id>/accept")
@login_required
def accept(lead_id: int):
    lead = _workable(lead_id)
    form = AcceptForm(prefix="accept").set_checklist(leads.sql_checklist(lead.product))
    return _act(lead, form, lambda: leads.accept(lead, current_user.id, form.checklist.data),
                "Lead accepted: it is now a sales-qualified lead.")


@bp.post("/leads/<int:lead_id>/reject")
@login_required
def reject(lead_id: int):
    lead = _workable(lead_id)
    form = _with_reasons(RejectForm(prefix="reject"), "reject")
    return _act(lead, form, lambda: leads.reject(lead, current_user.id, *_reason(form)),
                "Lead rejected.")


@bp.post("/leads/<int:lead_id>/opportunity")
@login_required
def opportunity(lead_id: int):
    lead = _workable(lead_id)
    form = OpportunityForm(prefix="opportunity")
    return _act(lead, form, lambda: leads.open_opportunity(lead, current_user.id,
                                                           form.amount.data),
                "Opportunity opened.")


@bp.post("/leads/<int:lead_id>/won")
@login_required
def won(lead_id: int):
    lead = _workable(lead_id)
    form = WonForm(prefix="won")
    return _act(lead, form, lambda: leads.close(lead, current_user.id, True, form.amount.data),
                "Closed won. Congratulations!")


@bp.post("/leads/<int:lead_id>/lost")
@login_required
def lost(lead_id: int):
    lead = _workable(lead_id)
    form = _with_reasons(LostForm(prefix="lost"), "lost")
    return _act(lead, form, lambda: leads.close(lead, current_user.id, False,
                                                reason=form.reason.data,
                                                note=(form.note.data or "").strip()),
                "Closed lost.")


@bp.post("/leads/<int:lead_id>/recycle")
@login_required
def recycle(lead_id: int):
    lead = _workable(lead_id)
    form = RecycleForm(prefix="recycle")
    return _act(lead, form, lambda: leads.recycle(lead, current_user.id,
                                                  form.reason.data.strip()),
                "The lead went back to marketing nurture.")


@bp.post("/leads/<int:lead_id>/reassign")
@login_required
def reassign(lead_id: int):
    lead = _visible(lead_id)
    authorize("lead.reassign")  # they can see the lead: a refusal here is 403, not 404
    form = ReassignForm(prefix="reassign").with_reps()
    return _act(lead, form, lambda: leads.reassign(
        lead, int(form.owner.data), current_user.id, restart=form.restart.data,
        reason=(form.note.data or "").strip() or None), "Lead reassigned.")

