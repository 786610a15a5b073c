"""Bulk creation for CSV imports: one batch of checked rows as referrals, leads and events.

On PostgreSQL a batch is three COPYs with ids taken from the sequences up front, then its
qualification and routing in one flush (measured against a million leads: ~2.4 ms of CPU a
row with routing and clocks, was ~10 ms routed lead by lead; the 100,000-row test file takes
1–4 minutes on the shared 2-core host, whose speed varies that much). The unique `Lead.open_email`
still guards against a concurrent intake of the same person: if the batch hits it, the
batch is rolled back to its SAVEPOINT and redone row by row through `intake.create`, which
turns the conflict into a duplicate. Elsewhere
(SQLite, the embedded default) every row goes through `intake.create` + `intake.follow_up`.
"""
import json
from datetime import datetime

from psycopg import sql
from psycopg.errors import UniqueViolation
from sqlalchemy import JSON, func, select
from sqlalchemy.orm import selectinload

from referral_app.errors import Duplicate
from referral_app.extensions import db
from referral_app.models import Lead, LeadEvent, Referral
from referral_app.services import assignment, intake, qualification, sla, stages


def create_many(ctx, accepted: list, at: datetime) -> dict:
    """position -> (referral_id, lead_id, "created"|"held") or the Duplicate that refused it.

    `accepted` holds (position, row, submission, referrer) of rows that passed every check.
    """
    if not accepted:
        return {}
    if db.session.get_bind().dialect.name != "postgresql":
        return one_by_one(ctx, accepted, at)
    for _position, _row, _data, referrer in accepted:
        if referrer is not None:
            ctx.code(referrer)  # created outside the batch's savepoint, so it survives a retry
    try:
        with db.session.begin_nested():
            created = _insert(ctx, accepted, at)
    except UniqueViolation as exc:
        if "open_email" not in str(exc):
            raise
        return one_by_one(ctx, accepted, at)  # someone referred one of these meanwhile
    _qualify_and_route(ctx, [lead_id for _, lead_id, _ in created.values()], at)
    return created


def one_by_one(ctx, accepted: list, at: datetime) -> dict:
    out = {}
    for position, _row, data, referrer in accepted:
        code_row = ctx.code(referrer) if referrer else None
        try:
            referral = intake.create(ctx.program, data, source="csv", referrer=referrer,
                                     code_row=code_row, holds=[], ip=None, fingerprint=None, at=at)
        except Duplicate as exc:
            out[position] = exc
            continue
        intake.follow_up(referral, source="csv", code_row=code_row, at=at, enqueue=False)
        out[position] = (referral.id, referral.lead.id,
                         "held" if referral.status == "held" else "created")
    return out


def _ids(table: str, n: int) -> list[int]:
    sequence = func.pg_get_serial_sequence(table, "id")
    return list(db.session.scalars(select(func.nextval(sequence))
                                   .select_from(func.generate_series(1, n))))


def _insert(ctx, accepted: list, at: datetime) -> dict:
    program = ctx.program
    referral_ids, lead_ids = _ids("referrals", len(accepted)), _ids("leads", len(accepted))
    referrals, leads, events, created = [], [], [], {}
    rows = zip(accepted, referral_ids, lead_ids, strict=True)
    for (position, _row, data, referrer), referral_id, lead_id in rows:
        referee = data["referee"]
        code_row = ctx.code(referrer) if referrer else None
        referrals.append(dict(
            id=referral_id, program_id=program.id, referrer_id=referrer.id if referrer else None,
            code_id=code_row.id if code_row else None, source="csv", status="submitted",
            hold_reasons=[], referee_name=referee["name"], referee_email=referee["email"],
            referee_company=referee.get("company"), referee_phone=referee.get("phone"),
            referee_title=referee.get("title"), referee_country=referee.get("country"),
            company_size=data.get("company_size"), deal_value=data.get("deal_value"),
            note=data.get("note") or "", consent_at=at, ip=None, fingerprint=None, created_at=at))
        leads.append(dict(
            id=lead_id, referral_id=referral_id, program_id=program.id, product=program.product,
            # What Lead's before_insert copies from the referral on the ORM path.
            referrer_id=referrer.id if referrer else None, stage="new", is_open=True,
            email=referee["email"], open_email=referee["email"],
            score=0, score_rules=[], sql_checklist=[], received_at=at, updated_at=at))
        # What stages.arrival_event builds, as one row of a multi-row insert.
        # Processed at once: no follow-up hangs off an arrival (unmarked, the recovery job
        # would re-enqueue a stage job for every imported row two minutes later).
        events.append(dict(lead_id=lead_id, kind="stage", from_stage=None, to_stage="new",
                           actor_id=None, at=at, reason=None, data={"source": "csv"},
                           processed_at=at))
        created[position] = (referral_id, lead_id, "created")
    _copy(Referral.__table__, referrals)
    _copy(Lead.__table__, leads)
    _copy(LeadEvent.__table__, events)
    return created


def _copy(table, rows: list[dict]) -> None:
    """COPY the rows into the table: PostgreSQL's bulk load, ~10x a multi-row INSERT.

    It runs on the session's own connection, inside its transaction and savepoint, so a
    unique violation rolls back with the batch like any statement would.
    """
    columns = list(rows[0])
    json_columns = {c for c in columns if isinstance(table.c[c].type, JSON)}
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns)))
    cursor = db.session.connection().connection.cursor()
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([json.dumps(row[c]) if c in json_columns else row[c]
                            for c in columns])


def _qualify_and_route(ctx, lead_ids: list[int], at: datetime) -> None:
    """MQL and routing for the batch's new leads, when there is anything to do: what
    intake.create does for one lead, built in memory for the whole batch and flushed once
    (per lead, a flush, a read of its clocks and of the agreement cost ~10 ms at 1M leads).

    Without an MQL definition for the product and without `mql_on_arrival`, `assess` can
    only confirm score 0 and stage new, so it is skipped; without reps nothing is routed.
    """
    program = ctx.program
    definition = qualification.definition_for(program.product)
    scored = program.mql_on_arrival or definition is not None
    reps = assignment.reps_in_turn(program.product)
    if not (scored or reps):
        return
    agreement = sla.agreement_for(program.product) if reps else None
    leads = db.session.scalars(select(Lead).where(Lead.id.in_(lead_ids)).order_by(Lead.id)
                               .options(selectinload(Lead.referral), selectinload(Lead.program)))
    turns = assignment.take_turns(reps, len(lead_ids), at)
    rows, moves, clocks = [], [], []
    for turn, lead in enumerate(leads):
        if scored and (mql := qualification.assess(lead, definition, at=at)) is not None:
            rows.append(mql)
            moves.append(mql)
        if reps:
            event, clock = assignment.first_assignment(lead, turns[turn].id,
                                                       lead.agreement or agreement, at)
            rows.append(event)
            if clock is not None:
                clocks.append(clock)
    db.session.add_all(rows + clocks)
    db.session.flush()
    for mql in moves:
        stages.enqueue_follow_up(mql)
    for clock in clocks:
        sla.schedule(clock)
