"""Referrers: participation, referrals per referrer, the best customers and partners, clicks.

Active referrers are those whose referrals became leads received in the period (the funnel's
cohort); all referrers are the referrer accounts that existed by the end of the period.
Click-to-lead comes from the referral codes' visit and submission counters, which are kept
for the code's lifetime (they carry no dates), so that table is not limited to the period.
"""
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select

from referral_app.extensions import db
from referral_app.models import Program, ReferralCode, User
from referral_app.models.user import REFERRER_KINDS
from referral_app.services.reports.common import (
    count_if,
    fast_reads,
    money_sum,
    names,
    per_lead_stages,
    rate,
)

TOP = 10


@dataclass
class Participation:
    kind: str
    referrers: int = 0
    active: int = 0
    referrals: int = 0

    @property
    def share_active(self):
        return rate(self.active, self.referrers)

    @property
    def per_active(self):
        return rate(self.referrals, self.active)


@dataclass(frozen=True)
class Referrer:
    id: int
    name: str
    company: str | None
    kind: str
    referrals: int
    sqls: int
    won: int
    won_value: Decimal


@dataclass(frozen=True)
class Clicks:
    program: str
    visits: int
    submissions: int

    @property
    def click_to_lead(self):
        return rate(self.submissions, self.visits)


@dataclass
class Referrers:
    period: object
    participation: list = field(default_factory=list)  # per kind, then "all"
    best: dict = field(default_factory=dict)  # kind -> [Referrer]
    clicks: list = field(default_factory=list)


def _best_and_active(per_lead) -> list:
    """The TOP referrers of each kind by won, SQLs and referrals, each row also carrying its
    kind's active referrers and referrals: one pass over the cohort, whose leads carry their
    referrer (no referral is read), ranked in SQL so only those rows come back."""
    won = per_lead.c.depth == 4
    # Grouped by referrer first, then joined to its user: 37k joins, not one per lead.
    sums = (select(per_lead.c.referrer_id, func.count().label("referrals"),
                   count_if(per_lead.c.depth >= 2).label("sqls"), count_if(won).label("won"),
                   func.coalesce(func.sum(per_lead.c.amount).filter(won), 0).label("value"))
            .where(per_lead.c.referrer_id.is_not(None))
            .group_by(per_lead.c.referrer_id)).subquery("sums")
    grouped = (select(sums, User.kind).join(User, User.id == sums.c.referrer_id)
               .subquery("by_referrer"))
    kind = grouped.c.kind
    ranked = select(grouped, func.row_number().over(
        partition_by=kind, order_by=(grouped.c.won.desc(), grouped.c.sqls.desc(),
                                     grouped.c.referrals.desc(), grouped.c.referrer_id)).label("rn"),
        func.count().over(partition_by=kind).label("active"),
        func.sum(grouped.c.referrals).over(partition_by=kind).label("kind_referrals")
    ).subquery("ranked")
    return db.session.execute(select(ranked).where(ranked.c.rn <= TOP)
                              .order_by(ranked.c.kind, ranked.c.rn)).all()


def _participation(period, rows) -> list[Participation]:
    out = {kind: Participation(kind) for kind in REFERRER_KINDS}
    registered = select(User.kind, func.count()).where(
        User.role == "referrer", User.created_at < period.end_utc).group_by(User.kind)
    for kind, n in db.session.execute(registered):
        out.setdefault(kind or "unknown", Participation(kind or "unknown")).referrers = n
    for row in rows:  # the first of each kind carries the kind's totals
        part = out.setdefault(row.kind or "unknown", Participation(row.kind or "unknown"))
        part.active, part.referrals = int(row.active), int(row.kind_referrals)
    parts = list(out.values())
    parts.append(Participation("all", sum(r.referrers for r in parts),
                               sum(r.active for r in parts), sum(r.referrals for r in parts)))
    return parts


def _best(rows) -> dict[str, list[Referrer]]:
    ids = [row.referrer_id for row in rows]
    labels, emails, companies = names(User, ids), names(User, ids, "email"), names(User, ids, "company")
    best: dict[str, list[Referrer]] = {kind: [] for kind in REFERRER_KINDS}
    for row in rows:
        ident = row.referrer_id
        best.setdefault(row.kind or "unknown", []).append(Referrer(
            ident, labels.get(ident) or emails.get(ident, f"#{ident}"), companies.get(ident),
            row.kind or "unknown", row.referrals, row.sqls, row.won, money_sum(row.value)))
    return best


def _clicks() -> list[Clicks]:
    stmt = (select(ReferralCode.program_id, func.sum(ReferralCode.visits),
                   func.sum(ReferralCode.submissions))
            .group_by(ReferralCode.program_id))
    rows = db.session.execute(stmt).all()
    labels = names(Program, {r[0] for r in rows})
    out = [Clicks(labels.get(p, f"#{p}"), int(v or 0), int(s or 0)) for p, v, s in rows]
    return sorted(out, key=lambda c: c.program)


def referrers(period, program=None, product: str | None = None) -> Referrers:
    fast_reads()
    per_lead = per_lead_stages(period, program.id if program is not None else None, product)
    rows = _best_and_active(per_lead)
    return Referrers(period=period, participation=_participation(period, rows),
                     best=_best(rows), clicks=_clicks())
