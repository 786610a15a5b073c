"""Routing: a new lead goes to the next rep of its product by round robin, and its clocks start."""
import functools
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, bindparam, func, select, text, update

from referral_app.extensions import db
from referral_app.models import Lead, LeadEvent, User
from referral_app.services import driver_sql, new_rows, sla


def candidates(product: str):
    """The product's present reps, least recently assigned first (never assigned: first)."""
    return (select(User)
            .where(User.role == "sales", User.active.is_(True), User.away.is_(False),
                   User.product == product)
            .order_by(User.last_assigned_at.asc().nulls_first(), User.id))


def next_rep(product: str) -> User | None:
    """The rep whose turn it is, row-locked until the caller's transaction ends.

    On PostgreSQL two concurrent intakes must not both read the same "least recently
    assigned" rep: SKIP LOCKED hands the second one the next rep in line. Only when every
    rep is locked does it wait for one (it then sees the updated `last_assigned_at`).
    SQLite has no row locks and serialises writers anyway.
    """
    query = candidates(product).limit(1)
    rep = db.session.scalar(query.with_for_update(skip_locked=True))
    if rep is None:
        rep = db.session.scalar(query.with_for_update().execution_options(populate_existing=True))
    return rep


def claim_next_rep(product: str, at: datetime) -> int | None:
    """next_rep's turn taken in one statement: the rep's id, their `last_assigned_at` set to
    `at` and their row locked until the caller's transaction ends (intake's hot path).

    Same order and locking as next_rep: SKIP LOCKED first, and only when every rep is locked
    does it wait for the first in line.
    """
    turn = candidates(product).with_only_columns(User.id).limit(1)
    for chosen in (turn.with_for_update(skip_locked=True), turn.with_for_update()):
        rep_id = db.session.scalar(
            update(User).where(User.id == chosen.correlate(None).scalar_subquery())
            .values(last_assigned_at=at).returning(User.id)
            .execution_options(synchronize_session=False))
        if rep_id is not None:
            return rep_id
    return None


def reps_in_turn(product: str) -> list[User]:
    """Every rep of the product in round-robin order, locked (for a CSV batch)."""
    return list(db.session.scalars(candidates(product).with_for_update()))


def reps_for_turns(product: str, n: int) -> list[User]:
    """Up to `n` reps for the product's next `n` leads, in round-robin order and row-locked
    until the caller's transaction ends (a group of API referrals).

    As claim_next_rep: reps a concurrent intake holds are skipped (SKIP LOCKED), so two
    groups committing at once take different reps instead of one waiting for the other;
    only when every rep is locked does it wait for the first in line.
    """
    query = candidates(product).limit(n)
    reps = list(db.session.scalars(query.with_for_update(skip_locked=True)))
    return reps or list(db.session.scalars(
        query.limit(1).with_for_update().execution_options(populate_existing=True)))


@functools.cache
def _claim_turns_statement():
    """claim_turns on PostgreSQL: `candidates` locked (SKIP LOCKED), ranked, and each one's
    last turn written, in one statement. FOR UPDATE cannot share a SELECT with a window
    function, hence two levels. Built once with parameters (of_product, turns, turn_at): building it
    per group was a sixth of the intake writer's fixed CPU (bench, session 11)."""
    n = bindparam("turns", type_=Integer)
    locked = (candidates(bindparam("of_product", type_=String)).with_only_columns(
        User.id, User.last_assigned_at).limit(n).with_for_update(skip_locked=True).cte("locked"))
    ranked = select(
        locked.c.id,
        (func.row_number().over(order_by=(locked.c.last_assigned_at.asc().nulls_first(),
                                          locked.c.id)) - 1).label("place"),
        func.count().over().label("reps")).cte("ranked")
    last_turn = ranked.c.place + ranked.c.reps * ((n - 1 - ranked.c.place) // ranked.c.reps)
    at = bindparam("turn_at", type_=User.__table__.c.last_assigned_at.type)
    return (update(User).where(User.id == ranked.c.id)
            .values(last_assigned_at=at + last_turn * text("interval '1 microsecond'"))
            .returning(User.id, ranked.c.place))


@functools.cache
def _claim_turns_sql(dialect) -> tuple[str, dict]:
    """_claim_turns_statement as psycopg's text, with the values of its own constants: run
    past SQLAlchemy's execution layer (services/driver_sql.py), it is one of the intake
    writer's few statements a group."""
    compiled = _claim_turns_statement().compile(dialect=dialect)
    return compiled.string, dict(compiled.params)


def claim_turns(product: str, n: int, at: datetime) -> list[int]:
    """The rep ids of the product's next `n` leads by round robin (`turns`), each rep's
    `last_assigned_at` written and row locked until the caller's transaction ends; empty
    without reps. On PostgreSQL in one statement, reps held by a concurrent intake skipped
    (reps_for_turns' locking), and only when every rep is held does it wait for the first
    in line. Reps already in the session are not refreshed: read them after the commit."""
    if db.session.get_bind().dialect.name != "postgresql":
        return [rep.id for rep in take_turns(reps_for_turns(product, n), n, at)]
    # On the connection, not through the session: a rep's turn is no change of who they
    # are, and intake_config empties its cache on any ORM UPDATE of users.
    sql, constants = _claim_turns_sql(db.session.get_bind().dialect)
    rows = driver_sql.rows(sql, {**constants, "of_product": product, "turns": n, "turn_at": at})
    if not rows:  # every rep held (or none): wait for the first in line, as reps_for_turns
        rep = next_rep(product)
        return [rep.id for rep in take_turns([rep], n, at)] if rep is not None else []
    in_turn = [rep_id for rep_id, _ in sorted(rows, key=lambda row: row[1])]
    return [in_turn[turn % len(in_turn)] for turn in range(n)]


def turns(reps: list[User], n: int, at: datetime) -> list[tuple[User, datetime]]:
    """(rep, instant of the turn) for the next `n` leads by round robin over `reps` (in
    turn order): one instant for the whole batch, a microsecond apart in turn order, so the
    next batch's order is exact. A rep's `last_assigned_at` becomes its last turn's."""
    return [(reps[turn % len(reps)], at + timedelta(microseconds=turn))
            for turn in range(n)] if reps else []


def take_turns(reps: list[User], n: int, at: datetime) -> list[User]:
    """The reps of the next `n` leads (see `turns`), each rep's `last_assigned_at` set."""
    chosen = turns(reps, n, at)
    for rep, when in chosen:
        rep.last_assigned_at = when
    return [rep for rep, _ in chosen]


def assignment_event(lead: Lead, rep_id: int, at: datetime, actor_id: int | None = None,
                     reason: str = "round robin", stage: str | None = None) -> LeadEvent:
    """The unflushed record of giving an unassigned lead to a rep, with the lead given
    (`stage`: the lead's stage then, when it is not the stage it has now)."""
    stage = stage or lead.stage
    event = new_rows.child(
        LeadEvent, lead, lead=lead, kind="assign", from_stage=stage, to_stage=stage,
        actor_id=actor_id, at=at, reason=reason,
        data={"from_owner": lead.owner_id, "to_owner": rep_id, "restart": False},
        processed_at=at)  # no follow-up job: nothing for recovery to redo
    lead.owner_id, lead.assigned_at = rep_id, at
    return event


def first_assignment(lead: Lead, rep_id: int, agreement, at: datetime) -> tuple:
    """A new lead given to its first rep, unflushed: (the assignment event, the first-attempt
    clock under `agreement` or None). The clock starts at assignment, never at arrival; the
    caller adds both, flushes, then `sla.schedule`s the clock."""
    event = assignment_event(lead, rep_id, at)
    if agreement is None:
        return event, None
    lead.agreement = agreement
    return event, sla.new_clock(lead, "first_attempt", agreement, at)


def assign(lead: Lead, rep: User, at: datetime, actor_id: int | None = None,
           reason: str = "round robin") -> LeadEvent:
    """Give an unassigned lead to `rep` at `at`, record it, and start its SLA clocks."""
    event = assignment_event(lead, rep.id, at, actor_id=actor_id, reason=reason)
    db.session.add(event)
    lead.owner = rep
    rep.last_assigned_at = at
    db.session.flush()
    # The SLA clock starts at assignment, never at arrival: nobody owes a first attempt
    # on a lead waiting unassigned in the managers' queue.
    sla.start_clocks(lead, at)
    return event


def set_away(rep: User, away: bool) -> User:
    """Mark a rep away (round robin gives them no new leads; theirs go on) or back."""
    rep.away = bool(away)
    db.session.flush()
    return rep


def open_leads_by_owner(owner_ids) -> dict[int, int]:
    """owner id -> how many open leads they own, in one query."""
    rows = db.session.execute(select(Lead.owner_id, func.count()).where(
        Lead.owner_id.in_(list(owner_ids)), Lead.is_open.is_(True)).group_by(Lead.owner_id))
    return dict(rows.all())
