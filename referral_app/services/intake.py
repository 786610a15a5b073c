"""Intake: the one path by which every referral enters (portal, landing, API, CSV import).

`submit` validates and normalises, checks, creates the referral with its lead and arrival
event, qualifies the lead, routes it to a rep (whose SLA clocks start then) and enqueues the
rewards follow-up after commit. It flushes; the caller owns the transaction:

- on success, commit;
- on a refusal (`is_refusal(exc)`: duplicate, self_referral, kind_not_allowed,
  program_inactive, consent_required) the attempt left nothing behind except its
  RefusedReferral row: commit to keep that record for marketing, then answer;
- on anything else, roll back.
"""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from referral_app.errors import DomainError, Duplicate, NotFound
from referral_app.extensions import db
from referral_app.jobs import DEFAULT, enqueue_after_commit
from referral_app.jobs.queues import rq_job_id
from referral_app.models import Lead, Program, Referral, ReferralCode, User
from referral_app.models.base import utcnow
from referral_app.services import assignment, codes, new_rows, qualification, sla, stages
from referral_app.services import intake_checks as checks
from referral_app.services.intake_checks import is_refusal  # noqa: F401  (callers' import)

SOURCES = ("portal", "landing", "api", "csv")
SUBMITTED_JOB = "referral_app.jobs.rewards.referral_submitted"


def submit(program, referee: dict, *, source: str, referrer_id: int | None = None,
           code: str | ReferralCode | None = None, note: str | None = "", consent: bool = False,
           company_size=None, deal_value=None, ip: str | None = None,
           fingerprint: str | None = None, at: datetime | None = None) -> Referral:
    """Take one referral into the program (a Program, its id or slug; None with a `code`).

    `referee` holds name, email, company, phone, title, country. `code` (the landing) names
    the referrer and program and counts the submission on that code. Raises NotFound for an
    unknown program or code, ValidationFailed (422 "invalid") with per-field messages, or a
    refusal (see the module docstring). A referral over the program's velocity limits is
    created with status "held" and its `hold_reasons`.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    at = at or utcnow()
    code_row = _code(code)
    if code_row is not None:
        referrer_id, program = code_row.referrer_id, program or code_row.program_id
    program = checks.resolve_program(program)
    if code_row is not None and code_row.program_id != program.id:
        raise NotFound("This referral link belongs to another program.")
    referrer = db.session.get(User, referrer_id) if referrer_id else None
    attempt = dict(referee=referee, note=note, consent=consent, company_size=company_size,
                   deal_value=deal_value)
    try:
        checks.check_program(program, referrer)
        data = checks.clean(referee, note=note, consent=consent, company_size=company_size,
                            deal_value=deal_value)
        checks.check_consent(data["consent"])
        email = data["referee"]["email"]
        checks.check_self_referral(program, referrer, email)
        checks.check_duplicate(email)
        holds = checks.velocity_holds(program, referrer_id, ip, at)
        if code_row is None and referrer is not None:
            code_row = codes.code_for(referrer.id, program.id)
        referral = create(program, data, source=source, referrer=referrer, code_row=code_row,
                          holds=holds, ip=ip, fingerprint=fingerprint, at=at)
    except DomainError as exc:
        checks.record_refusal(exc, program, referrer_id, source, attempt, ip, at)
        raise
    follow_up(referral, source=source, code_row=code_row, at=at)
    return referral


def _code(code) -> ReferralCode | None:
    if code is None or isinstance(code, ReferralCode):
        return code
    row = codes.by_code(code)
    if row is None:
        raise NotFound("This referral link is not valid.")
    return row


def create(program: Program, data: dict, *, source: str, referrer: User | None,
           code_row: ReferralCode | None, holds: list[str], ip: str | None,
           fingerprint: str | None, at: datetime) -> Referral:
    """Insert the referral and its lead with all that happens on arrival, in one flush.

    The arrival event, the move to mql when the lead qualifies, and routing: the rep whose
    turn it is gets the lead and its first-attempt clock starts (nobody owes a first attempt
    on a lead waiting unassigned in the managers' queue). The follow-up jobs of the mql move
    and the clock are enqueued after commit.

    Duplicate when the e-mail became an open lead meanwhile: `Lead.open_email` is UNIQUE, so
    of two concurrent submissions of one person the second insert waits for the first to
    commit and then fails. The SAVEPOINT keeps the caller's transaction usable (so the
    refusal can still be recorded) and undoes the rep's turn with the rest.
    """
    definition = qualification.definition_for(program.product)
    agreement = sla.agreement_for(program.product)
    try:
        with savepoint():
            rep_id = assignment.claim_next_rep(program.product, at)
            new = arrival(program, data, source=source, referrer=referrer, code_row=code_row,
                          holds=holds, ip=ip, fingerprint=fingerprint, at=at,
                          definition=definition, agreement=agreement, rep_id=rep_id)
            db.session.add_all(new.rows)
            db.session.flush()
    except IntegrityError as exc:
        if "open_email" not in str(exc.orig):
            raise
        raise Duplicate(checks.DUPLICATE_MESSAGE,
                        fields={"referee.email": [checks.DUPLICATE_MESSAGE]}) from None
    new.follow_up()
    return new.referral


@dataclass
class Arrival:
    """A new referral's unflushed rows: the referral and lead first, then the events and the
    first-attempt clock; `follow_up()` after the flush enqueues what hangs off them."""
    referral: Referral
    rows: list
    mql: object | None = None
    clock: object | None = None

    def follow_up(self) -> None:
        if self.mql is not None:
            stages.enqueue_follow_up(self.mql)
        if self.clock is not None:
            sla.schedule(self.clock)


def arrival(program: Program, data: dict, *, source: str, referrer: User | None,
            code_row: ReferralCode | None, holds: list[str], ip: str | None,
            fingerprint: str | None, at: datetime, definition, agreement,
            rep_id: int | None, plain: bool = False) -> Arrival:
    """What arrives with one referral, built in memory and not added to the session: the
    referral, its lead, the arrival event, the move to mql when it qualifies under
    `definition`, and, given the rep whose turn it is, the assignment with its first-attempt
    clock under `agreement`. `plain`: as new_rows.Plain rows, for new_rows.insert_new."""
    referee = data["referee"]
    referral = new_rows.new(
        Referral, plain, program=program, referrer=referrer, code=code_row, source=source,
        status="held" if holds else "submitted", hold_reasons=holds,
        referee_name=referee["name"], referee_email=referee["email"],
        referee_company=referee.get("company"), referee_phone=referee.get("phone"),
        referee_title=referee.get("title"), referee_country=referee.get("country"),
        company_size=data.get("company_size"), deal_value=data.get("deal_value"),
        note=data.get("note") or "", consent_at=at, ip=ip, fingerprint=fingerprint,
        created_at=at)
    lead = new_rows.new(
        Lead, plain, referral=referral, program=program, product=program.product,
        referrer_id=referrer.id if referrer else None, email=referee["email"],
        open_email=referee["email"], stage="new", is_open=True, received_at=at)
    # The actor is whoever sent it: the referrer in the portal or API; the referee on the
    # landing and marketing's import have no referrer action behind them.
    actor = referrer.id if referrer is not None and source in ("portal", "api") else None
    new = Arrival(referral, [referral, lead, stages.arrival_event(lead, actor, at, source)])
    new.mql = qualification.assess(lead, definition, at=at)
    if new.mql is not None:
        new.rows.append(new.mql)
    if rep_id is not None:
        event, new.clock = assignment.first_assignment(lead, rep_id, agreement, at)
        new.rows += [event, new.clock] if new.clock is not None else [event]
    return new


def savepoint():
    """`begin_nested()`, safe on SQLite too: pysqlite opens no transaction before a SAVEPOINT,
    so its RELEASE would commit the attempt; open the transaction first."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite" and \
            not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")
    return db.session.begin_nested()


def follow_up(referral: Referral, *, source: str, code_row: ReferralCode | None,
              at: datetime, enqueue: bool = True) -> None:
    """After the insert: the link's submission count and the rewards job.

    `enqueue=False` leaves the rewards job to the caller (the CSV import sends a batch's
    jobs in one pipeline after its commit).
    """
    if code_row is not None and source == "landing":
        # Submissions through the link (click-to-lead); an UPDATE, safe under concurrency.
        db.session.execute(update(ReferralCode).where(ReferralCode.id == code_row.id)
                           .values(submissions=ReferralCode.submissions + 1))
    if enqueue:
        enqueue_after_commit(SUBMITTED_JOB, referral.id, queue=DEFAULT,
                             job_id=submitted_job_id(referral.id))


def submitted_job_id(referral_id: int) -> str:
    """One rewards job per referral, whichever path enqueues it (prefixed like the queues, so
    deployments or test runs sharing one Redis never mistake each other's jobs)."""
    return rq_job_id(f"referral-submitted-{referral_id}")


def count_visit(code_id: int) -> None:
    """One more visit of a referral link, as an UPDATE (no lost counts under concurrency)."""
    db.session.execute(update(ReferralCode).where(ReferralCode.id == code_id)
                       .values(visits=ReferralCode.visits + 1))
