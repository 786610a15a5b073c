"""Intake of a group of submissions at once: intake.submit's checks, rows and answers, in a
few statements for the whole group instead of about a dozen for each submission.

The API's group commit (blueprints/api/group_commit.py) gathers concurrent requests and
sends them here together. Each submission gets what `intake.submit` would have given it
alone, in order: its Referral, or the DomainError that refused it (a refusal's record added
as submit adds it). Submissions later in the group see the earlier ones, as if they had
arrived one after the other: a second referral of one person is a duplicate, velocity
counts include the group's earlier referrals, reps take turns.

Reads are one per kind for the group (programs, referrers, e-mails already known, velocity
counts, codes, MQL definitions, agreements, reps in turn) and the rows of every accepted
submission are written together (one statement on PostgreSQL). If that write hits
`Lead.open_email` (someone referred one of these people meanwhile, through another
process), a group of one is rolled back to its SAVEPOINT and answered with a duplicate; a
larger group raises GroupConflict, and the caller rolls back and submits each alone. It
flushes; the caller owns the transaction.
"""
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select, tuple_
from sqlalchemy.exc import IntegrityError

from referral_app.errors import DomainError, Duplicate
from referral_app.extensions import db
from referral_app.jobs import DEFAULT, enqueue_after_commit
from referral_app.models import Program, Referral
from referral_app.services import (
    assignment,
    codes,
    driver_sql,
    intake,
    intake_config,
    new_rows,
    sla,
)
from referral_app.services import intake_checks as checks

# The ids of n new rows of each table from its own sequence: one row a table, its ids as an
# array, in one round trip and one statement text. Each table's sequence is looked up once,
# not once an id (OFFSET 0 keeps the subquery from being flattened into the outer rows):
# 0.2 -> 0.03 ms for a group's ~60 ids (EXPLAIN ANALYZE); a row a table, not a row an id:
# fetching ~60 rows through SQLAlchemy was ~5 % of the writer's CPU (py-spy, session 16).
NEXT_IDS = ("SELECT t.name, ARRAY(SELECT nextval(t.seq) FROM generate_series(1, t.n)) "
            "FROM (SELECT name, n, CAST(pg_get_serial_sequence(name, 'id') AS regclass) AS seq "
            "FROM unnest(CAST(%s AS text[]), CAST(%s AS int[])) AS u(name, n) OFFSET 0) AS t")
GROUP_SUBMITTED_JOB = "referral_app.jobs.rewards.referrals_submitted"


class GroupConflict(Exception):
    """A group's rows met another process's new lead for one of its people (Lead.open_email):
    the transaction is spoiled. Roll back and submit each alone, which answers that one with
    a duplicate (GroupCommit retries any failed group so)."""


@dataclass
class Submission:
    """One referral as a caller sent it (the arguments of intake.submit, minus `code`)."""
    program: int | str
    referee: dict
    source: str = "api"
    referrer_id: int | None = None
    note: str | None = ""
    consent: bool = False
    company_size: object = None
    deal_value: object = None
    ip: str | None = None
    fingerprint: str | None = None
    # Validated and normalised by the caller already (the API's ReferralIn): not again.
    checked: bool = False
    # Filled in while the group is checked.
    data: dict = field(default=None, repr=False)
    holds: list = field(default_factory=list)

    def cleaned(self) -> dict:
        """checks.clean's answer: computed, or as the caller's schema gave it (a deal value
        that crossed Redis as text becomes a Decimal again)."""
        if not self.checked:
            return checks.clean(self.referee, note=self.note, consent=self.consent,
                                company_size=self.company_size, deal_value=self.deal_value)
        deal = self.deal_value
        return {"referee": self.referee, "note": self.note or "", "consent": bool(self.consent),
                "company_size": self.company_size,
                "deal_value": Decimal(deal) if isinstance(deal, str) else deal}

    def attempt(self) -> dict:
        return dict(referee=self.referee, note=self.note, consent=self.consent,
                    company_size=self.company_size, deal_value=self.deal_value)


def submit_many(subs: list[Submission], at: datetime) -> list[Referral | DomainError]:
    """Each submission's Referral or the DomainError that refused it, in order (flushed).

    On PostgreSQL a referral written with others is a new_rows.Plain row, not in the
    session: its values (id, status, code, lead's id and stage) answer the request; read it
    back to change it."""
    for sub in subs:
        if sub.source not in intake.SOURCES:
            raise ValueError(f"unknown source {sub.source!r}")
    # On PostgreSQL the rows are numbered from the sequences and inserted by new_rows, so
    # they are built plain (new_rows.Plain) and the remembered configuration is read as it
    # is, unattached; elsewhere the ORM's flush writes ORM rows that point at it.
    plain = db.session.get_bind().dialect.name == "postgresql"
    programs = _programs([s.program for s in subs], plain)
    referrers = intake_config.referrers({s.referrer_id for s in subs if s.referrer_id},
                                        attach=not plain)
    outcomes: list = [None] * len(subs)
    checked = []  # (position, sub, program, referrer) past the checks that need no reads
    for position, sub in enumerate(subs):
        program = programs.get(checks.program_key(sub.program))
        if program is None:
            outcomes[position] = checks.no_such_program()
            continue
        referrer = referrers.get(sub.referrer_id)
        try:
            checks.check_program(program, referrer)
            sub.data = sub.cleaned()
            checks.check_consent(sub.data["consent"])
            checks.check_self_referral(program, referrer, sub.data["referee"]["email"])
        except DomainError as exc:
            outcomes[position] = _refused(exc, sub, program, at)
            continue
        checked.append((position, sub, program, referrer))
    known = checks.known_emails(sub.data["referee"]["email"] for _, sub, _, _ in checked)
    velocity = _Velocity([(sub, program) for _, sub, program, _ in checked], at)
    accepted = []
    for position, sub, program, referrer in checked:
        email = sub.data["referee"]["email"]
        try:
            checks.check_duplicate(email, known)
        except DomainError as exc:
            outcomes[position] = _refused(exc, sub, program, at)
            continue
        known.add(email)  # a second referral of this person in the group is a duplicate
        sub.holds = velocity.holds(sub, program)
        accepted.append((position, sub, program, referrer))
    for position, referral in _create(accepted, at, plain).items():
        outcomes[position] = referral
    return outcomes


def _refused(exc: DomainError, sub: Submission, program: Program, at: datetime):
    checks.record_refusal(exc, program, sub.referrer_id, sub.source, sub.attempt(), sub.ip, at)
    return exc


def _programs(refs, plain: bool) -> dict:
    return intake_config.programs({checks.program_key(ref) for ref in refs} - {None},
                                  attach=not plain)


class _Velocity:
    """checks.velocity_holds for a group: the stored counts read once, plus the group's own
    referrals before each one (held ones count, refused ones do not: as alone)."""

    def __init__(self, pairs, at: datetime):
        self.seen: Counter = Counter()
        self.stored: Counter = Counter()
        by_referrer = {(p.id, s.referrer_id) for s, p in pairs
                       if s.referrer_id and p.velocity_per_hour}
        by_ip = {(p.id, s.ip) for s, p in pairs if s.ip and p.velocity_per_ip}
        if by_referrer:
            self._read("referrer", Referral.referrer_id, by_referrer, at - timedelta(hours=1))
        if by_ip:
            self._read("ip", Referral.ip, by_ip, at - timedelta(hours=24))

    def _read(self, kind: str, column, pairs: set, since: datetime) -> None:
        # Built only when a program of the group limits velocity: func.count() for every
        # group was ~2 % of the writer's CPU (py-spy, bench session 16).
        rows = db.session.execute(
            select(Referral.program_id, column, func.count(Referral.id))
            .where(tuple_(Referral.program_id, column).in_(list(pairs)),
                   Referral.created_at > since)
            .group_by(Referral.program_id, column))
        for program_id, who, n in rows:
            self.stored[(kind, program_id, who)] = n

    def holds(self, sub: Submission, program: Program) -> list[str]:
        limits = []
        if sub.referrer_id and program.velocity_per_hour:
            limits.append(("referrer_velocity", program.velocity_per_hour,
                           ("referrer", program.id, sub.referrer_id)))
        if sub.ip and program.velocity_per_ip:
            limits.append(("ip_velocity", program.velocity_per_ip, ("ip", program.id, sub.ip)))
        for _, _, key in limits:
            self.seen[key] += 1  # this referral included, as velocity_holds counts it
        return [reason for reason, limit, key in limits
                if self.stored[key] + self.seen[key] > limit]


def _codes(accepted, plain: bool) -> dict:
    """(referrer id, program id) -> the referrer's code (remembered, or read in one
    statement; a missing one made)."""
    pairs = list({(referrer.id, program.id) for _, _, program, referrer in accepted
                  if referrer is not None})
    if not pairs:
        return {}
    found = intake_config.codes(pairs, attach=not plain)
    for pair in pairs:
        if pair not in found:
            found[pair] = codes.code_for(*pair)  # its own savepoint: survives a retry
    return found


def _create(accepted, at: datetime, plain: bool) -> dict:
    """position -> Referral for the accepted submissions, or the Duplicate of a conflict."""
    if not accepted:
        return {}
    code_rows = _codes(accepted, plain)
    products = {program.product for _, _, program, _ in accepted}
    definitions = {p: intake_config.definition(p, attach=not plain) for p in products}
    agreements = {p: intake_config.agreement(p, attach=not plain) for p in products}
    # A SAVEPOINT costs two round trips a group; only a group of one needs it, to answer a
    # conflict with a duplicate. A larger group that meets one is given up (GroupConflict).
    alone = len(accepted) == 1
    try:
        with intake.savepoint() if alone else contextlib.nullcontext():
            per_product = Counter(program.product for _, _, program, _ in accepted)
            # Reps in turn, locked: see assignment.claim_turns.
            turns = {p: iter(assignment.claim_turns(p, per_product[p], at))
                     for p in sorted(products)}
            out, arrivals = {}, []
            for position, sub, program, referrer in accepted:
                new = intake.arrival(
                    program, sub.data, source=sub.source, referrer=referrer,
                    code_row=code_rows.get((referrer.id, program.id)) if referrer else None,
                    holds=sub.holds, ip=sub.ip, fingerprint=sub.fingerprint, at=at,
                    definition=definitions[program.product],
                    agreement=agreements[program.product],
                    rep_id=next(turns[program.product], None), plain=plain)
                out[position] = new.referral
                arrivals.append(new)
            rows = [row for new in arrivals for row in new.rows]
            if plain:
                _number(rows)
                new_rows.insert_new(rows)  # ids known: no unit of work needed
            else:
                db.session.add_all(rows)
                db.session.flush()
    except IntegrityError as exc:
        if "open_email" not in str(exc.orig):
            raise
        if not alone:
            raise GroupConflict("someone referred one of the group's people meanwhile: roll "
                                "back and submit each alone") from exc
        return _one_by_one(accepted, code_rows, at)  # someone referred them meanwhile
    _follow_up(arrivals, [sub for _, sub, _, _ in accepted], at)
    return out


def _follow_up(arrivals: list, subs: list[Submission], at: datetime) -> None:
    """What Arrival.follow_up and intake.follow_up do for each referral; for a group of more
    than one, with one job for the whole group (its rewards and its moves to mql) instead of
    one of each per referral (RQ's enqueueing costs more than the rest of a referral's rows;
    a worker runs one job per group)."""
    if len(arrivals) == 1:
        arrivals[0].follow_up()
        intake.follow_up(arrivals[0].referral, source=subs[0].source,
                         code_row=arrivals[0].referral.code, at=at)
        return
    for new, sub in zip(arrivals, subs, strict=True):
        intake.follow_up(new.referral, source=sub.source, code_row=new.referral.code, at=at,
                         enqueue=False)
        if new.clock is not None:
            sla.schedule(new.clock)
    moves = [new.mql.id for new in arrivals if new.mql is not None]
    enqueue_after_commit(GROUP_SUBMITTED_JOB, [new.referral.id for new in arrivals],
                         *([moves] if moves else []), queue=DEFAULT)


def _number(rows: list) -> None:
    """Give the new rows their ids from the tables' sequences, in one statement (PostgreSQL).

    With ids known up front each table's rows go as one prepared statement (see
    services/new_rows.py); without, as one INSERT .. VALUES (..), (..) .. RETURNING id
    whose text differs with every group size, which psycopg then parses anew (a third of
    the group's CPU, measured).
    """
    tables = Counter(new_rows.model_of(row).__table__.name for row in rows)
    ids = {name: iter(values) for name, values in driver_sql.rows(
        NEXT_IDS, (list(tables), list(tables.values())))}
    for row in rows:
        row.id = next(ids[new_rows.model_of(row).__table__.name])


def _one_by_one(accepted, code_rows: dict, at: datetime) -> dict:
    out = {}
    for position, sub, program, referrer in accepted:
        code_row = code_rows.get((referrer.id, program.id)) if referrer else None
        # ORM rows follow: the configuration they point at must be in the session.
        program, referrer, code_row = (intake_config.attached(obj)
                                       for obj in (program, referrer, code_row))
        try:
            referral = intake.create(program, sub.data, source=sub.source, referrer=referrer,
                                     code_row=code_row, holds=sub.holds, ip=sub.ip,
                                     fingerprint=sub.fingerprint, at=at)
        except Duplicate as exc:
            out[position] = _refused(exc, sub, program, at)
            continue
        intake.follow_up(referral, source=sub.source, code_row=code_row, at=at)
        out[position] = referral
    return out

