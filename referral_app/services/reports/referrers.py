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
from referral_app.models import Program, Referral, ReferralCode, User
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


def _participation(period, per_lead) -> list[Participation]:
    out = {kind: Participation(kind) for kind in REFERRER_KINDS}
    registered = select(User.kind, func.count()).where(
        User.role == "referrer", User.created_at < period.end_utc).group_by(User.kind)
    for kind, n in db.session.execute(registered):
        out.setdefault(kind or "unknown", Participation(kind or "unknown")).referrers = n
    activity = (select(User.kind, func.count(func.distinct(Referral.referrer_id)), func.count())
                .select_from(per_lead).join(Referral, Referral.id == per_lead.c.referral_id)
                .join(User, User.id == Referral.referrer_id).group_by(User.kind))
    for kind, active, referrals in db.session.execute(activity):
        row = out.setdefault(kind or "unknown", Participation(kind or "unknown"))
        row.active, row.referrals = active, referrals
    rows = list(out.values())
    rows.append(Participation("all", sum(r.referrers for r in rows), sum(r.active for r in rows),
                              sum(r.referrals for r in rows)))
    return rows


def _best(per_lead) -> dict[str, list[Referrer]]:
    won = per_lead.c.depth == 4
    grouped = (select(Referral.referrer_id, User.kind, func.count().label("referrals"),
                      count_if(per_lead.c.depth >= 2).label("sqls"), count_if(won).label("won"),
                      func.coalesce(func.sum(per_lead.c.amount).filter(won), 0).label("value"))
               .select_from(per_lead).join(Referral, Referral.id == per_lead.c.referral_id)
               .join(User, User.id == Referral.referrer_id)
               .group_by(Referral.referrer_id, User.kind)).subquery("by_referrer")
    ranked = select(grouped, func.row_number().over(
        partition_by=grouped.c.kind,
        order_by=(grouped.c.won.desc(), grouped.c.sqls.desc(), grouped.c.referrals.desc(),
                  grouped.c.referrer_id)).label("rn")).subquery("ranked")
    rows = db.session.execute(select(ranked).where(ranked.c.rn <= TOP)
                              .order_by(ranked.c.kind, ranked.c.rn)).mappings().all()
    ids = [row["referrer_id"] for row in rows]
    labels, emails, companies = names(User, ids), names(User, ids, "email"), names(User, ids, "company")
    best: dict[str, list[Referrer]] = {kind: [] for kind in REFERRER_KINDS}
    for row in rows:
        ident = row["referrer_id"]
        best.setdefault(row["kind"] or "unknown", []).append(Referrer(
            ident, labels.get(ident) or emails.get(ident, f"#{ident}"), companies.get(ident),
            row["kind"] or "unknown", row["referrals"], row["sqls"], row["won"],
            money_sum(row["value"])))
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
    return Referrers(period=period, participation=_participation(period, per_lead),
                     best=_best(per_lead), clicks=_clicks())
