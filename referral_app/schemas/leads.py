"""Schemas of the lead and queue API: what sales sends, and the lead with its SLA."""
from marshmallow import fields, validate

from referral_app.models import Lead
from referral_app.models.lead import ATTEMPT_CHANNELS, ATTEMPT_OUTCOMES, OPEN_STAGES
from referral_app.schemas import PageArgs, Schema

POSITIVE = validate.Range(min=0, min_inclusive=False, max=10**12, max_inclusive=False)


class LeadClockOut(Schema):
    kind = fields.String()
    status = fields.String(metadata={"enum": ["running", "met", "breached", "cancelled"]})
    started_at = fields.DateTime()
    due_at = fields.DateTime()
    met_at = fields.DateTime(allow_none=True)
    breached_at = fields.DateTime(allow_none=True)


class LeadAttemptsOut(Schema):
    count = fields.Integer(metadata={"description": "Attempts logged in the current window."})
    max = fields.Integer(allow_none=True)
    window_ends_at = fields.DateTime(allow_none=True)
    connected = fields.Boolean(metadata={"description": "A connected outcome ended the limit."})


class LeadSlaOut(Schema):
    first_attempt = fields.Nested(LeadClockOut, allow_none=True)
    decision = fields.Nested(LeadClockOut, allow_none=True)
    attempts = fields.Nested(LeadAttemptsOut)
    next_due_at = fields.DateTime(allow_none=True, metadata={
        "description": "The earliest due time still owed (the queue's order)."})
    seconds_left = fields.Integer(allow_none=True, metadata={
        "description": "Seconds until next_due_at, in working time for business-hour clocks; "
                       "negative when overdue."})


class LeadOwnerOut(Schema):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()


class LeadOut(Schema):
    id = fields.Integer()
    stage = fields.String()
    owner = fields.Nested(LeadOwnerOut, allow_none=True)
    program = fields.String(metadata={"description": "The program's slug."})
    referral_id = fields.Integer()
    received_at = fields.DateTime()
    first_attempt_at = fields.DateTime(allow_none=True)
    referee = fields.Dict(metadata={"description": "name, company and title of the referee."})
    amount = fields.Decimal(places=2, as_string=True, allow_none=True)
    close_reason = fields.String(allow_none=True)
    sql_checklist = fields.List(fields.String())
    sla = fields.Nested(LeadSlaOut)


class LeadAttemptOut(Schema):
    id = fields.Integer()
    lead_id = fields.Integer()
    user_id = fields.Integer()
    channel = fields.String()
    outcome = fields.String()
    note = fields.String()
    at = fields.DateTime()
    lead = fields.Nested(LeadOut)


class LeadAttemptIn(Schema):
    channel = fields.String(required=True, validate=validate.OneOf(ATTEMPT_CHANNELS))
    outcome = fields.String(required=True, validate=validate.OneOf(ATTEMPT_OUTCOMES))
    note = fields.String(load_default="", validate=validate.Length(max=4000))


class LeadAcceptIn(Schema):
    checklist = fields.List(fields.String(validate=validate.Length(max=300)), load_default=list,
                            metadata={"description": "The SQL checklist items that hold."})


class LeadRejectIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=300))
    note = fields.String(load_default="", validate=validate.Length(max=4000))


class LeadOpportunityIn(Schema):
    amount = fields.Decimal(required=True, places=2, validate=POSITIVE)


class LeadCloseIn(Schema):
    won = fields.Boolean(required=True)
    amount = fields.Decimal(places=2, allow_none=True, load_default=None, validate=POSITIVE,
                            metadata={"description": "Required to close won unless the "
                                                     "opportunity already has an amount."})
    reason = fields.String(allow_none=True, load_default=None,
                           validate=validate.Length(max=300),
                           metadata={"description": "Required to close lost."})
    note = fields.String(load_default="", validate=validate.Length(max=4000))


class LeadQueueArgs(PageArgs):
    program = fields.String(load_default=None, metadata={"description": "A program's slug."})
    stage = fields.String(load_default=None, validate=validate.OneOf(OPEN_STAGES))


def _clock(clock) -> dict | None:
    if clock is None:
        return None
    return {"kind": clock.kind, "status": clock.status, "started_at": clock.started_at,
            "due_at": clock.due_at, "met_at": clock.met_at, "breached_at": clock.breached_at}


def lead_body(lead: Lead, clocks: dict, attempts_used: int, connected: bool,
              seconds_left: int | None = None) -> dict:
    """The plain dict LeadOut dumps: the lead, its owner and program, and its SLA."""
    window = clocks.get("attempt_limit")
    agreement = lead.agreement
    referral = lead.referral
    owner = lead.owner
    return {
        "id": lead.id, "stage": lead.stage, "program": lead.program.slug,
        "owner": {"id": owner.id, "name": owner.name, "email": owner.email} if owner else None,
        "referral_id": lead.referral_id, "received_at": lead.received_at,
        "first_attempt_at": lead.first_attempt_at,
        "referee": {"name": referral.referee_name, "company": referral.referee_company,
                    "title": referral.referee_title},
        "amount": lead.amount, "close_reason": lead.close_reason,
        "sql_checklist": list(lead.sql_checklist or []),
        "sla": {
            "first_attempt": _clock(clocks.get("first_attempt")),
            "decision": _clock(clocks.get("decision")),
            "attempts": {"count": attempts_used,
                         "max": agreement.max_attempts if agreement else None,
                         "window_ends_at": window.due_at if window else None,
                         "connected": connected},
            "next_due_at": lead.sla_due_at,
            "seconds_left": seconds_left,
        },
    }
