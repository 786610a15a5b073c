"""The reward ledger: referrers read their own rewards; marketing approves, rejects, issues."""
from flask import jsonify, request
from sqlalchemy import select

from blueprints.api.base import Blueprint, caller, found, page_schema, paginate, require
from referral_app.extensions import db
from referral_app.models import Reward
from referral_app.policy import may
from referral_app.schemas.rewards import RewardListArgs, RewardOut, RewardReasonIn
from referral_app.services import reward_states

blp = Blueprint("reward-ledger", __name__, description="Give-get rewards: the ledger and its review.")

RewardPage = page_schema(RewardOut, "RewardPage")


@blp.get("/rewards")
@blp.arguments(RewardListArgs, location="query", as_kwargs=True)
@blp.response(200, RewardPage)
@blp.alt_response(403, response="FORBIDDEN")
def list_rewards(page: int, per_page: int, status: str | None, side: str | None,
                 trigger: str | None, referral_id: int | None):
    """Rewards, newest first: a referrer sees their own, marketing sees all."""
    require("reward.list")
    query = select(Reward).order_by(Reward.created_at.desc(), Reward.id.desc())
    if not may(caller(), "reward.review"):
        query = query.where(Reward.referrer_id == caller().id)
    for column, value in ((Reward.status, status), (Reward.side, side),
                          (Reward.trigger, trigger), (Reward.referral_id, referral_id)):
        if value is not None:
            query = query.where(column == value)
    # Already dumped by paginate(): a Response is not dumped again (the schema documents it).
    return jsonify(paginate(query, page, per_page, RewardOut()))


def _reviewed(reward_id: int) -> Reward:
    """The reward for a marketing decision: 403 for other roles, 404 when there is none."""
    require("reward.review")
    return found(db.session.get(Reward, reward_id), "No such reward.")


def _done(reward: Reward) -> Reward:
    db.session.commit()
    return reward


@blp.get("/rewards/<int:reward_id>")
@blp.response(200, RewardOut)
@blp.alt_response(404, response="NOT_FOUND")
def get_reward(reward_id: int):
    """One reward: its referrer or marketing."""
    require("reward.list")
    reward = found(db.session.get(Reward, reward_id), "No such reward.")
    return require("reward.read", reward, missing="No such reward.")


@blp.before_request
def reviewers_only():
    """Before a body is read: callers who may not review get 403/404, not 422."""
    if request.method == "POST" and "reward_id" in (request.view_args or {}):
        _reviewed(request.view_args["reward_id"])


@blp.post("/rewards/<int:reward_id>/approve")
@blp.response(200, RewardOut)
@blp.alt_response(403, response="FORBIDDEN")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="invalid_transition: e.g. already issued")
def approve(reward_id: int):
    """Approve a pending or held reward (marketing)."""
    reward = _reviewed(reward_id)
    return _done(reward_states.approve(reward.id, caller().id))


@blp.post("/rewards/<int:reward_id>/reject")
@blp.arguments(RewardReasonIn)
@blp.response(200, RewardOut)
@blp.alt_response(403, response="FORBIDDEN")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="invalid_transition")
def reject(data: dict, reward_id: int):
    """Reject a pending or held reward with a reason (marketing)."""
    reward = _reviewed(reward_id)
    return _done(reward_states.reject(reward.id, data["reason"], caller().id))


@blp.post("/rewards/<int:reward_id>/issue")
@blp.response(200, RewardOut)
@blp.alt_response(403, response="FORBIDDEN")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT",
                  description="invalid_transition (not approved) or hold_period (too early)")
def issue(reward_id: int):
    """Issue an approved reward whose hold period is over: a coupon or a payout (marketing)."""
    reward = _reviewed(reward_id)
    return _done(reward_states.issue(reward.id, caller().id))


@blp.post("/rewards/<int:reward_id>/void")
@blp.arguments(RewardReasonIn)
@blp.response(200, RewardOut)
@blp.alt_response(403, response="FORBIDDEN")
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="invalid_transition")
def void(data: dict, reward_id: int):
    """Claw back an approved or issued reward, with a reason (marketing)."""
    reward = _reviewed(reward_id)
    return _done(reward_states.void(reward.id, data["reason"], caller().id))
