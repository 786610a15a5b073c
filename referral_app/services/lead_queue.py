"""The follow-up queue: open leads in urgency order, in one indexed query per page."""
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import aliased, contains_eager, defer, selectinload

from referral_app.extensions import db
from referral_app.models import Agreement, Attempt, Lead, Program, Referral, SlaClock, User
from referral_app.services.sla import OUTSTANDING, is_business


@dataclass
class QueueRow:
    """One queue line: the lead (with referral, program, referrer, agreement loaded) and its SLA.

    `breached` means owed and past due: breached, or about to be at the next sweep.
    """

    lead: Lead
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
    """Rows of (Lead, attempts used, connected attempts, kind of the next clock), most urgent first.

    sla_due_at is the earliest due time still owed; a breached clock's due time is in the
    past, so ordering by it puts breached leads first, then by time left. With the index
    (owner_id, is_open, sla_due_at, id) a page is an index scan plus a LIMIT; the per-row
    subqueries are correlated aggregates (never hashed over a whole table) and run only for
    the rows of the page. The joined rows load only the columns a queue line shows.
    Built once per process: statements are immutable, and building this one is not free.
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
    via_referral = contains_eager(Lead.referral)
    return (
        select(Lead, attempts.label("attempts_used"), connected.label("connected"),
               next_clock.label("next_kind"))
        .join(Lead.referral).join(Lead.program)
        .outerjoin(referrer, Referral.referrer_id == referrer.id)
        .options(via_referral.load_only(Referral.referee_name, Referral.referee_company,
                                        Referral.referee_title, Referral.referrer_id),
                 via_referral.contains_eager(Referral.referrer.of_type(referrer))
                 .load_only(referrer.name, referrer.email, referrer.company, referrer.kind),
                 contains_eager(Lead.program).load_only(Program.name, Program.slug,
                                                        Program.product),
                 # A page has one or two agreements: read once each, not decoded (JSON
                 # hours and holidays included) on each of its 50 rows.
                 selectinload(Lead.agreement).selectinload(Agreement.calendar),
                 defer(Lead.score_rules))
        .order_by(Lead.sla_due_at.asc().nulls_last(), Lead.id)
    )


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
         **filters) -> tuple[list, int]:
    """One page of queue rows and the total count (two statements, whatever the page).

    `with_clocks` also loads every clock of the page's leads, in one more statement.
    """
    total = db.session.scalar(select(func.count(Lead.id)).where(*_filters(**filters))) or 0
    query = queue_select(**filters).limit(per_page).offset((page_no - 1) * per_page)
    if with_clocks:
        query = query.options(selectinload(Lead.clocks))
    else:  # the pages show no checklist; the API's lead body does
        query = query.options(defer(Lead.sql_checklist))
    rows = []
    for lead, attempts, connected, kind in db.session.execute(query).unique():
        left = seconds_left(lead, kind, now)
        # Owed and past due: breached, or about to be at the next sweep.
        rows.append(QueueRow(lead, attempts or 0, left is not None and left < 0, kind, left,
                             bool(connected)))
    return rows, total


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
             .options(contains_eager(SlaClock.lead))
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
