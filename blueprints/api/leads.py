"""Leads and the follow-up queue: read a lead, the caller's queue, attempts and stage moves."""
from flask import jsonify, request
from sqlalchemy import select

from blueprints.api.base import (
    Blueprint,
    caller,
    found,
    page_schema,
    replayed_answer,
    request_hash,
    require,
)
from referral_app.errors import Forbidden
from referral_app.extensions import db
from referral_app.models import Lead, Program
from referral_app.models.base import utcnow
from referral_app.policy import may
from referral_app.schemas.leads import (
    LeadAcceptIn,
    LeadAttemptIn,
    LeadAttemptOut,
    LeadCloseIn,
    LeadOpportunityIn,
    LeadOut,
    LeadQueueArgs,
    LeadRejectIn,
    lead_body,
)
from referral_app.services import idempotency, lead_queue, leads, sla

blp = Blueprint("leads", __name__, description="The sales follow-up queue and the moves of a lead.")

QueuePage = page_schema(LeadOut, "LeadPage")


def _lead(lead_id: int) -> Lead:
    """The lead the caller may see: 403 for roles that see no leads, 404 for others' leads."""
    require("lead.read")
    return require("lead.read", found(db.session.get(Lead, lead_id), "No such lead."),
                   missing="No such lead.")


def _workable(lead_id: int) -> Lead:
    """The lead, when the caller is its owner: only the owner logs attempts and moves it."""
    if not may(caller(), "lead.work"):
        raise Forbidden("Only sales reps work leads.")
    lead = _lead(lead_id)
    if not may(caller(), "lead.work", lead):
        raise Forbidden("Only the lead's owner can work it; a manager reassigns it instead.")
    return lead


@blp.before_request
def replay():
    """Refuse callers who may not work the lead before the body is read (403/404, not 422);
    then a write repeated with the same Idempotency-Key gets the first answer again."""
    if request.method != "POST":
        return None
    if "lead_id" in (request.view_args or {}):
        _workable(request.view_args["lead_id"])
    return replayed_answer()


def _answer(status: int, schema, data: dict):
    """Dump, remember under the Idempotency-Key in the same transaction, commit, answer."""
    body = schema.dump(data)
    key = idempotency.check_key(request.headers.get(idempotency.HEADER))
    if key:
        idempotency.remember(caller().id, key, request_hash(), status, body, utcnow())
    db.session.commit()
    response = jsonify(body)
    response.status_code = status
    return response


def _body(lead: Lead) -> dict:
    count, connected = leads.attempt_stats(lead)
    clocks = sla.clocks_of(lead)
    left = lead_queue.seconds_left(lead, lead_queue.next_kind(clocks), utcnow())
    return lead_body(lead, clocks, count, connected, left)


@blp.get("/leads/<int:lead_id>")
@blp.response(200, LeadOut)
@blp.alt_response(403, response="FORBIDDEN")
@blp.alt_response(404, response="NOT_FOUND")
def get_lead(lead_id: int):
    """One lead with its SLA: sales (own), sales managers and marketing."""
    return _body(_lead(lead_id))


@blp.get("/queue")
@blp.arguments(LeadQueueArgs, location="query", as_kwargs=True)
@blp.response(200, QueuePage)
@blp.alt_response(403, response="FORBIDDEN")
def queue(page: int, per_page: int, program: str | None, stage: str | None):
    """The caller's open leads, most urgent first (breached, then least time left)."""
    require("queue.own")
    program_id = None
    if program:
        program_id = db.session.scalar(select(Program.id).where(Program.slug == program)) or -1
    rows, total = lead_queue.page(utcnow(), page, per_page, with_clocks=True,
                                  owner_ids=[caller().id], program_id=program_id, stage=stage)
    items = []
    for row in rows:
        # The attempt count and clocks come with the page: no query per lead.
        items.append(lead_body(row.lead, row.lead.clocks,
                               row.attempts_used, row.connected, row.seconds_left))
    return {"items": items, "page": page, "per_page": per_page, "total": total}


@blp.post("/leads/<int:lead_id>/attempts")
@blp.arguments(LeadAttemptIn)
@blp.response(201, LeadAttemptOut)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="attempt_limit: past the limit")
def log_attempt(data: dict, lead_id: int):
    """Log one attempt (call, email, meeting, social) with its outcome; the owner only.

    Send an `Idempotency-Key` header on every write to make retries safe: the first answer
    is replayed for 24 hours, so a retried attempt is not counted twice."""
    lead = _workable(lead_id)
    attempt = leads.log_attempt(lead, caller().id, data["channel"], data["outcome"],
                                data["note"])
    return _answer(201, LeadAttemptOut(), {
        "id": attempt.id, "lead_id": lead.id, "user_id": attempt.user_id,
        "channel": attempt.channel, "outcome": attempt.outcome, "note": attempt.note,
        "at": attempt.at, "lead": _body(lead)})


def _moved(lead: Lead):
    return _answer(200, LeadOut(), _body(lead))


@blp.post("/leads/<int:lead_id>/accept")
@blp.arguments(LeadAcceptIn)
@blp.response(200, LeadOut)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="invalid_transition")
def accept(data: dict, lead_id: int):
    """Accept the lead (stage sql), with the SQL checklist items that hold."""
    lead = _workable(lead_id)
    leads.accept(lead, caller().id, data["checklist"])
    return _moved(lead)


@blp.post("/leads/<int:lead_id>/reject")
@blp.arguments(LeadRejectIn)
@blp.response(200, LeadOut)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="invalid_transition")
def reject(data: dict, lead_id: int):
    """Reject the lead (stage rejected) with a reason."""
    lead = _workable(lead_id)
    leads.reject(lead, caller().id, data["reason"], data["note"])
    return _moved(lead)


@blp.post("/leads/<int:lead_id>/opportunity")
@blp.arguments(LeadOpportunityIn)
@blp.response(200, LeadOut)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="invalid_transition")
def opportunity(data: dict, lead_id: int):
    """Open an opportunity worth `amount` on an accepted lead."""
    lead = _workable(lead_id)
    leads.open_opportunity(lead, caller().id, data["amount"])
    return _moved(lead)


@blp.post("/leads/<int:lead_id>/close")
@blp.arguments(LeadCloseIn)
@blp.response(200, LeadOut)
@blp.alt_response(404, response="NOT_FOUND")
@blp.alt_response(409, response="CONFLICT", description="invalid_transition")
def close(data: dict, lead_id: int):
    """Close won (with the amount) or lost (with a reason)."""
    lead = _workable(lead_id)
    leads.close(lead, caller().id, data["won"], data["amount"], data["reason"], data["note"])
    return _moved(lead)
