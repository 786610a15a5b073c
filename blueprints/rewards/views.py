"""Reward review for marketing (one-click decisions with the evidence) and the referrer's list."""
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from blueprints.rewards import bp
from blueprints.rewards.forms import DecisionForm
from blueprints.web import roles_required
from referral_app.errors import DomainError
from referral_app.extensions import db
from referral_app.models import Program, Referral, Reward, User
from referral_app.models.reward import REWARD_STATUSES
from referral_app.services import fraud, reward_states
from referral_app.services.reward_rules import TRIGGER_EVENTS, TRIGGER_WORDS

PER_PAGE = 25
TABS = ("held", "pending", "approved", "issued", "rejected", "void")
ACTIONS = {
    "approve": lambda rid, reason, actor: reward_states.approve(rid, actor),
    "reject": lambda rid, reason, actor: reward_states.reject(rid, reason, actor),
    "issue": lambda rid, reason, actor: reward_states.issue(rid, actor),
    "void": lambda rid, reason, actor: reward_states.void(rid, reason, actor),
}
DONE = {"approve": "approved", "reject": "rejected", "issue": "issued", "void": "voided"}
# What referrers read for the ledger's reason codes.
REASON_WORDS = {
    "cap_reached": "You reached this program's yearly limit for this reward.",
    "refunded": "The purchase was refunded.",
}


def _page() -> int:
    return max(request.args.get("page", 1, type=int), 1)


@bp.get("/")
@roles_required("reward.review")
def review():
    counts = dict(db.session.execute(select(Reward.status, func.count(Reward.id))
                                     .group_by(Reward.status)).all())
    status = request.args.get("status")
    if status not in REWARD_STATUSES:
        status = "held" if counts.get("held") else "pending"
    query = (select(Reward, Referral, Program, User)
             .join(Referral, Referral.id == Reward.referral_id)
             .join(Program, Program.id == Reward.program_id)
             .outerjoin(User, User.id == Reward.referrer_id)
             .where(Reward.status == status))
    # Oldest first where someone has to act; newest first for the history tabs.
    order = (Reward.created_at, Reward.id) if status in ("held", "pending", "approved") \
        else (Reward.created_at.desc(), Reward.id.desc())
    page = _page()
    rows = db.session.execute(query.order_by(*order).limit(PER_PAGE)
                              .offset((page - 1) * PER_PAGE)).all()
    evidence = {reward.id: fraud.evidence(referral, reward.hold_reasons or [])
                for reward, referral, _, _ in rows if reward.status == "held"}
    return render_template("rewards/review.html", rows=rows, status=status, tabs=TABS,
                           counts=counts, evidence=evidence, page=page, per_page=PER_PAGE,
                           total=counts.get(status, 0), form=DecisionForm(),
                           value_words=reward_states.value_words, trigger_words=TRIGGER_EVENTS)


@bp.post("/<int:reward_id>/<any(approve, reject, issue, void):action>")
@roles_required("reward.review")
def decide(reward_id: int, action: str):
    form = DecisionForm()
    back = form.back.data if form.back.data in REWARD_STATUSES else None
    if not form.validate():
        flash("The reason is too long (500 characters at most).", "error")
        return redirect(url_for("rewards.review", status=back))
    reason = (form.reason.data or "").strip() or None
    if action in ("reject", "void") and reason is None:
        reason = "rejected by marketing" if action == "reject" else "voided by marketing"
    try:
        ACTIONS[action](reward_id, reason, current_user.id)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(f"Reward #{reward_id}: {exc.message}", "error")
    else:
        flash(f"Reward #{reward_id} {DONE[action]}.", "success")
    return redirect(url_for("rewards.review", status=back))


@bp.get("/mine")
@roles_required("reward.list")
def mine():
    page = _page()
    base = select(Reward).where(Reward.referrer_id == current_user.id)
    total = db.session.scalar(select(func.count()).select_from(base.subquery()))
    rows = db.session.execute(
        select(Reward, Referral, Program).join(Referral, Referral.id == Reward.referral_id)
        .join(Program, Program.id == Reward.program_id)
        .where(Reward.referrer_id == current_user.id)
        .order_by(Reward.created_at.desc(), Reward.id.desc())
        .limit(PER_PAGE).offset((page - 1) * PER_PAGE)).all()
    earned = db.session.execute(
        select(Reward.currency, func.sum(Reward.amount))
        .where(Reward.referrer_id == current_user.id, Reward.side == "get",
               Reward.kind == "fixed", Reward.status == "issued")
        .group_by(Reward.currency)).all()
    return render_template("rewards/mine.html", rows=rows, page=page, per_page=PER_PAGE,
                           total=total, earned=earned, value_words=reward_states.value_words,
                           trigger_words=TRIGGER_WORDS, reason_words=REASON_WORDS,
                           describe=fraud.describe)
