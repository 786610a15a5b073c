"""Referrals API: submit a referral (idempotent), list and read them with their lead and rewards."""
from concurrent.futures import Future

import click
import orjson
from flask import current_app, jsonify, request

from blueprints.api import group_commit, intake_relay
from blueprints.api import intake_writer as writer_process
from blueprints.api.base import (
    Blueprint,
    caller,
    found,
    identity,
    page_schema,
    paginate,
    replay,
    replayed_answer,
    request_hash,
    require,
)
from referral_app.errors import DomainError
from referral_app.extensions import db
from referral_app.models import Referral
from referral_app.models.base import utcnow
from referral_app.schemas import PageArgs
from referral_app.schemas.referrals import ReferralCreatedOut, ReferralIn, ReferralOut
from referral_app.services import idempotency, intake, intake_batch, referral_status

blp = Blueprint("referrals_api", __name__, cli_group=None,
                description="Referrals: one act of referring, its lead and its rewards.")

ReferralPage = page_schema(ReferralOut, "ReferralPage")
CREATE = "referrals_api.create_referral"


@blp.before_request
def guard():
    """Before the body is parsed: role, and the replay of a repeated key (413: api/__init__).
    With the group commit the writer replays keys instead, one read for its whole group
    (group_commit._answers)."""
    if request.endpoint != CREATE:
        return None
    require("referral.create")  # a sales user gets 403, not a 422 about fields
    return None if current_app.config["GROUP_COMMIT"] else replayed_answer()


def _remember(status: int, body: dict) -> None:
    key = idempotency.check_key(request.headers.get(idempotency.HEADER))
    if key:
        idempotency.remember(identity().id, key, request_hash(), status, body, utcnow())


@blp.post("/referrals")
@blp.arguments(ReferralIn)
@blp.response(201, ReferralCreatedOut)
@blp.alt_response(401, response="UNAUTHORIZED")
@blp.alt_response(403, response="FORBIDDEN",
                  description="Not a referrer, or `kind_not_allowed` for this program.")
@blp.alt_response(404, response="NOT_FOUND", description="No such program.")
@blp.alt_response(409, response="CONFLICT",
                  description="`duplicate`: already an open lead or a customer; "
                              "`program_inactive`: the program is not taking referrals.")
@blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
@blp.alt_response(422, response="UNPROCESSABLE_ENTITY",
                  description="`invalid` with `fields`; `consent_required`; `self_referral`; "
                              "`idempotency_mismatch` (same Idempotency-Key, another body).")
@blp.alt_response(503, response="SERVICE_UNAVAILABLE",
                  description="`unavailable`: intake is too busy to answer in time; retry "
                              "with the same Idempotency-Key.")
def create_referral(data: dict):
    """Refer someone to a program (referrers). Send an `Idempotency-Key` header to make
    retries safe: the first answer is replayed for 24 hours."""
    user = identity()  # its id is all intake needs
    if current_app.config["GROUP_COMMIT"]:
        key = idempotency.check_key(request.headers.get(idempotency.HEADER))
        return _created(_writer(current_app._get_current_object()).submit(group_commit.Request(
            intake_batch.Submission(
                data["program"], data["referee"], source="api", referrer_id=user.id,
                note=data["note"], consent=data["consent"], company_size=data["company_size"],
                deal_value=data["deal_value"], ip=request.remote_addr, checked=True),
            user.id, key, request_hash() if key else None,
            Future())))
    try:
        referral = intake.submit(
            data["program"], data["referee"], source="api", referrer_id=user.id,
            note=data["note"], consent=data["consent"], company_size=data["company_size"],
            deal_value=data["deal_value"], ip=request.remote_addr)
    except DomainError as exc:
        if not intake.is_refusal(exc):
            db.session.rollback()  # a refusal keeps only its record; anything else, nothing
        _remember(exc.status, group_commit.error_body(exc))
        db.session.commit()
        raise
    body = group_commit.created_body(referral)
    _remember(201, body)
    db.session.commit()
    return _created(body)


def _created(body: dict | group_commit.Replayed):
    """The 201 answer as is: the body is dumped already (smorest would dump it again), and
    written by orjson, which writes it exactly as jsonify does (keys sorted, compact, a
    newline; its values are ids and ASCII words) in a tenth of the time (bench session 16).
    A repeated key's first answer (from the group commit) is given again as it was."""
    if isinstance(body, group_commit.Replayed):
        return replay(body.status, body.body)
    return current_app.response_class(orjson.dumps(body, option=CREATED_JSON), status=201,
                                      mimetype="application/json")


CREATED_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def _writer(app):
    if app.config["INTAKE_WRITER"] == "process":
        return intake_relay.RelayedWriter(app)
    return group_commit.writer(app)


@blp.record_once
def _check_writer(state) -> None:
    """A mistyped INTAKE_WRITER stops the app at start, not each referral later."""
    mode = state.app.config["INTAKE_WRITER"]
    if mode not in ("thread", "process"):
        raise ValueError(f"INTAKE_WRITER is {mode!r}: set it to 'thread' or 'process'")


@blp.cli.command("intake-writer")
def intake_writer():
    """Write API referrals in groups for every web worker (INTAKE_WRITER=process)."""
    app = current_app._get_current_object()
    writer_process.prepare(app)
    try:
        writer_process.serve(app)
    except intake_relay.CannotListen as exc:
        raise click.ClickException(str(exc)) from exc


@blp.get("/referrals")
@blp.arguments(PageArgs, location="query")
@blp.response(200, ReferralPage)
@blp.alt_response(403, response="FORBIDDEN")
def list_referrals(args: dict):
    """Referrals with their lead's stage and rewards: a referrer's own, or all (marketing)."""
    require("referral.list")
    # paginate() has dumped the items already: answer as is rather than dump them twice.
    return jsonify(paginate(referral_status.referrals_for(caller()), args["page"],
                            args["per_page"], ReferralOut()))


@blp.get("/referrals/<int:referral_id>")
@blp.response(200, ReferralOut)
@blp.alt_response(404, response="NOT_FOUND")
def get_referral(referral_id: int):
    """One referral; 404 for a referral the caller may not see."""
    referral = found(db.session.get(Referral, referral_id), "No such referral.")
    return require("referral.read", referral, missing="No such referral.")
