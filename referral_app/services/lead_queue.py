"""The follow-up queue: open leads in urgency order, in one indexed query per page."""
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import aliased, contains_eager, joinedload, selectinload

from referral_app.extensions import db
from referral_app.models import Agreement, Attempt, Lead, Program, Referral, SlaClock, User
from referral_app.services.sla import OUTSTANDING, is_business


@dataclass(frozen=True, slots=True)
class Referrer:
    name: str | None
    email: str
    company: str | None


@dataclass(frozen=True, slots=True)
class LineReferral:
    referee_name: str
    referee_company: str | None
    referee_title: str | None
    referrer: Referrer | None


@dataclass(frozen=True, slots=True)
class LineProgram:
    name: str
    slug: str
    product: str


@dataclass(slots=True)
class QueueLead:
    """A lead as the queue shows it, read as plain rows rather than ORM objects (a page of
    50 costs a third of the CPU). Attribute names are the model's, so templates, seconds_left
    and the API's lead body read it like a Lead; the agreement is the ORM row (one per page).
    """

    id: int
    referral_id: int
    stage: str
    owner_id: int | None
    received_at: datetime
    first_attempt_at: datetime | None
    sla_due_at: datetime | None
    amount: Decimal | None
    close_reason: str | None
    sql_checklist: list
    referral: LineReferral
    program: LineProgram
    agreement: Agreement | None = None
    owner: User | None = None
    clocks: dict | None = None  # kind -> clock row, when page(with_clocks=True)


@dataclass
class QueueRow:
    """One queue line: the lead and its SLA.

    `breached` means owed and past due: breached, or about to be at the next sweep.
    """

    lead: QueueLead
    attempts_used: int
    breached: bool
    next_kind: str | None
    seconds_left: int | None
    connected: bool = False

    @property
    def max_attempts(self) -> int | None:
        return self.lead.agreement.max_attempts if self.lead.agreement else None


def _filters(owner_ids=None, unassigned: bool = False, program_id: int | None = None,
             stage: str | None = None) -> list:
    where = [Lead.is_open.is_(True)]
    if unassigned:
        where.append(Lead.owner_id.is_(None))
    elif owner_ids is not None:
        ids = list(owner_ids)
        where.append(Lead.owner_id == ids[0] if len(ids) == 1 else Lead.owner_id.in_(ids))
    if program_id:
        where.append(Lead.program_id == program_id)
    if stage:
        where.append(Lead.stage == stage)
    return where


def queue_select(**filters):
    """The queue's statement for these filters (see _base_select)."""
    return _base_select().where(*_filters(**filters))


@functools.cache
def _base_select():
    """One row per queue line: the lead's columns, its referee, referrer and program, attempts
    used, connected attempts and the kind of the next clock, most urgent first.

    sla_due_at is the earliest due time still owed; a breached clock's due time is in the
    past, so ordering by it puts breached leads first, then by time left. With the index
    (owner_id, is_open, sla_due_at, id) a page is an index scan plus a LIMIT; the per-row
    subqueries are correlated aggregates (never hashed over a whole table) and run only for
    the rows of the page. Built once per process: statements are immutable, and building
    this one is not free.
    """
    referrer = aliased(User)
    attempts = (select(func.count(Attempt.id)).where(Attempt.lead_id == Lead.id)
                .correlate(Lead).scalar_subquery())
    connected = (select(func.count(Attempt.id)).where(Attempt.lead_id == Lead.id,
                                                      Attempt.outcome == "connected")
                 .correlate(Lead).scalar_subquery())
    next_clock = (select(SlaClock.kind).where(SlaClock.lead_id == Lead.id,
                                              SlaClock.met_at.is_(None),
                                              SlaClock.status.in_(OUTSTANDING))
                  .order_by(SlaClock.due_at).limit(1).correlate(Lead).scalar_subquery())
    return (
        select(Lead.id, Lead.referral_id, Lead.stage, Lead.owner_id, Lead.received_at,
               Lead.first_attempt_at, Lead.sla_due_at, Lead.amount, Lead.close_reason,
               Lead.sql_checklist, Lead.agreement_id,
               Referral.referee_name, Referral.referee_company, Referral.referee_title,
               referrer.id.label("referrer_id"), referrer.name.label("referrer_name"),
               referrer.email.label("referrer_email"),
               referrer.company.label("referrer_company"),
               Program.name.label("program_name"), Program.slug.label("program_slug"),
               Program.product.label("program_product"),
               attempts.label("attempts_used"), connected.label("connected"),
               next_clock.label("next_kind"))
        .join(Referral, Referral.id == Lead.referral_id).join(Program, Program.id == Lead.program_id)
        .outerjoin(referrer, Referral.referrer_id == referrer.id)
        .order_by(Lead.sla_due_at.asc().nulls_last(), Lead.id)
    )


def _line(row, agreements: dict) -> QueueLead:
    referrer = Referrer(row.referrer_name, row.referrer_email, row.referrer_company) \
        if row.referrer_id is not None else None
    return QueueLead(
        row.id, row.referral_id, row.stage, row.owner_id, row.received_at, row.first_attempt_at,
        row.sla_due_at, row.amount, row.close_reason, row.sql_checklist or [],
        LineReferral(row.referee_name, row.referee_company, row.referee_title, referrer),
        LineProgram(row.program_name, row.program_slug, row.program_product),
        agreements.get(row.agreement_id))


def seconds_left(lead: Lead, next_kind: str | None, now: datetime) -> int | None:
    """Seconds until the next due time, counted in working time for business-hour clocks."""
    due = lead.sla_due_at
    if due is None:
        return None
    if due <= now:
        return -int((now - due).total_seconds())
    if lead.agreement is not None and is_business(next_kind or "attempt_limit", lead.agreement):
        return int(lead.agreement.calendar.business().elapsed(now, due).total_seconds())
    return int((due - now).total_seconds())


def next_kind(clocks: dict) -> str | None:
    """The kind of the clock lead.sla_due_at counts down to, from the lead's clocks."""
    owed = [c for c in clocks.values() if c.met_at is None and c.status in OUTSTANDING]
    return min(owed, key=lambda c: c.due_at).kind if owed else None


def clock_seconds_left(clock: SlaClock, agreement: Agreement | None, now: datetime) -> int | None:
    """Seconds left on one clock still owed (working time for business-hour clocks)."""
    if clock.met_at is not None or clock.status not in OUTSTANDING:
        return None
    if clock.due_at <= now:
        return -int((now - clock.due_at).total_seconds())
    if agreement is not None and is_business(clock.kind, agreement):
        return int(agreement.calendar.business().elapsed(now, clock.due_at).total_seconds())
    return int((clock.due_at - now).total_seconds())


def page(now: datetime, page_no: int = 1, per_page: int = 50, with_clocks: bool = False,
         **filters) -> tuple[list[QueueRow], int]:
    """One page of queue rows and the total count (two statements, plus one per agreement
    the page uses; the session's identity map usually has them).

    `with_clocks` (the API's lead body) also reads the page's clocks, in one more statement,
    and each line's owner.
    """
    total = db.session.scalar(select(func.count(Lead.id)).where(*_filters(**filters))) or 0
    query = queue_select(**filters).limit(per_page).offset((page_no - 1) * per_page)
    found = db.session.execute(query).all()
    agreements = {i: db.session.get(Agreement, i, options=[joinedload(Agreement.calendar)])
                  for i in {row.agreement_id for row in found} if i is not None}
    rows = []
    for row in found:
        lead = _line(row, agreements)
        left = seconds_left(lead, row.next_kind, now)
        # Owed and past due: breached, or about to be at the next sweep.
        rows.append(QueueRow(lead, row.attempts_used or 0, left is not None and left < 0,
                             row.next_kind, left, bool(row.connected)))
    if with_clocks and rows:
        _add_clocks_and_owners([row.lead for row in rows])
    return rows, total


def _add_clocks_and_owners(leads: list[QueueLead]) -> None:
    clocks: dict[int, dict] = {lead.id: {} for lead in leads}
    for clock in db.session.execute(
            select(SlaClock.lead_id, SlaClock.kind, SlaClock.status, SlaClock.started_at,
                   SlaClock.due_at, SlaClock.met_at, SlaClock.breached_at)
            .where(SlaClock.lead_id.in_(list(clocks)))):
        clocks[clock.lead_id][clock.kind] = clock
    owners = {i: db.session.get(User, i) for i in {lead.owner_id for lead in leads} if i}
    for lead in leads:
        lead.clocks, lead.owner = clocks[lead.id], owners.get(lead.owner_id)


def team_ids(manager: User) -> list[int]:
    """The reps a manager leads (User.manager_id); every active rep when none report to them."""
    query = select(User.id).where(User.role.in_(("sales", "sales_manager")),
                                  User.active.is_(True))
    if manager.role == "sales_manager":
        direct = list(db.session.scalars(query.where(User.manager_id == manager.id)))
        if direct:
            return direct + [manager.id]
    return list(db.session.scalars(query))


def breaches_between(start: datetime, end: datetime, owner_ids=None, limit: int = 200) -> list:
    """(clock, lead) for clocks breached in [start, end), newest first."""
    query = (select(SlaClock, Lead).join(Lead, SlaClock.lead_id == Lead.id)
             .options(contains_eager(SlaClock.lead), selectinload(Lead.referral))  # the names
             .where(SlaClock.breached_at >= start, SlaClock.breached_at < end)
             .order_by(SlaClock.breached_at.desc()).limit(limit))
    if owner_ids is not None:
        query = query.where(SlaClock.owner_id.in_(list(owner_ids)))
    return list(db.session.execute(query).unique())


def day_bounds(now: datetime, zone) -> tuple[datetime, datetime]:
    """The start and end of `now`'s day in `zone`, as aware instants."""
    local = now.astimezone(zone)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)  # zoneinfo keeps wall-clock midnight over DST
