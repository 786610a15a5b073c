"""Report results as tables of display strings: the page and its CSV show the same cells."""
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from referral_app.services.currencies import SYMBOLS

MISSING = "—"
NUMBER = re.compile(r"-?[0-9]{4,}(\.[0-9]+)?")
STAGE_LABELS = {"leads": "Leads", "mql": "MQL", "sql": "SQL", "opportunity": "Opportunity",
                "won": "Won", "lost": "Lost", "rejected": "Rejected", "recycled": "Recycled"}
MEASURE_LABELS = {"sql": "SQLs", "opportunity": "opportunities", "won": "won deals"}
KIND_LABELS = {"first_attempt": "First attempt", "attempt_limit": "Attempt limit",
               "decision": "Decision"}


@dataclass
class Table:
    key: str
    title: str
    headers: list
    rows: list = field(default_factory=list)
    note: str = ""

    @property
    def numeric_columns(self) -> set[int]:
        """Columns to right-align: those whose first cell is a number, a rate or a dash."""
        first = self.rows[0] if self.rows else []
        return {i for i, cell in enumerate(first) if cell and cell[0] in "0123456789" + MISSING}


def grouped(cell: str) -> str:
    """A table cell as the page shows it: big numbers with thousands separators
    ("266400.00" -> "266,400.00"); the CSV keeps the plain cell for spreadsheets."""
    if isinstance(cell, str) and NUMBER.fullmatch(cell):
        whole, dot, fraction = cell.partition(".")
        return f"{int(whole):,}{dot}{fraction}"
    return cell


def whole_money(value, currencies=("USD",)) -> str:
    """A money figure in whole units with its currency ($417,600; 12,000 CHF), or the bare
    number when it adds the amounts of several currencies (the page says so)."""
    if value is None:
        return MISSING
    text = f"{value:,.0f}"
    if len(currencies) != 1:
        return text
    symbol = SYMBOLS.get(currencies[0])
    return f"{symbol}{text}" if symbol else f"{text} {currencies[0]}"


def pct(value) -> str:
    return MISSING if value is None else f"{value * 100:.1f}%"


def money(value) -> str:
    return MISSING if value is None else f"{value:.2f}"


def hours(seconds) -> str:
    return MISSING if seconds is None else f"{seconds / 3600:.2f}"


def num(value) -> str:
    return MISSING if value is None else str(value)


def ratio(value) -> str:
    return MISSING if value is None else f"{value:.2f}"


def funnel_tables(f) -> list[Table]:
    c = f.counts
    stages = Table("funnel", "Funnel: leads received in the period, by stage reached",
                   ["Stage", "Reached", "Entered directly", "Conversion from previous step"],
                   note="Reached: an event into the stage or a later one on the main path.")
    conversions = {b: r for _, b, _, _, r in f.steps()}
    for stage in STAGE_LABELS:
        entered = c.leads if stage == "leads" else c.entered.get(stage, 0)
        stages.rows.append([STAGE_LABELS[stage], num(c.count(stage)), num(entered),
                            pct(conversions[stage]) if stage in conversions else ""])
    value = Table("funnel-value", "Conversion, value and cost", ["Measure", "Value"])
    value.rows = [
        ["Lead → opportunity", pct(f.lead_to_opportunity)],
        ["Opportunity → won", pct(f.opportunity_to_won)],
        ["Won deals", num(f.won)],
        ["Revenue (won deals)", money(c.won_value)],
        ["Average won deal", money(f.average_won_value)],
        ["Referrals with a purchase", num(f.purchases)],
        ["Purchase revenue", money(f.purchase_revenue)],
        ["Referral → purchase", pct(f.referral_to_purchase)],
        ["Reward cost", money(f.reward_cost)],
        ["Reward cost per won deal", money(f.cost_per_won)],
    ]
    return [stages, value]


def board_title(entity, measure, order) -> str:
    return f"{'Top' if order == 'top' else 'Bottom'} {entity} by {MEASURE_LABELS[measure]}"


def leaderboard_tables(b) -> list[Table]:
    out = []
    for entity, measure, order, entries in b.lists():
        who = "Program" if entity == "programs" else "Rep"
        table = Table(f"leaderboard-{order}-{entity}-{measure}",
                      board_title(entity, measure, order),
                      ["#", who, "Leads", STAGE_LABELS[measure], "Rate"])
        table.rows = [[str(n), e.name, num(e.leads), num(e.count), pct(e.rate)]
                      for n, e in enumerate(entries, start=1)]
        out.append(table)
    return out


def leaderboards_combined(tables: list[Table]) -> Table:
    combined = Table("leaderboards", "All twelve leaderboards",
                     ["Board", "#", "Name", "Leads", "Count", "Rate"])
    combined.rows = [[t.title, *row] for t in tables for row in t.rows]
    return combined


def _month_label(row, zone) -> str:
    if row.key == "period":
        return "Period"
    local = row.start.astimezone(ZoneInfo(zone))
    label = local.strftime("%b %Y")
    if row.partial:
        label += " (part)"
    if row.in_progress:
        label += " (in progress)"
    elif not row.closed:
        label += " (not started)"
    return label


def _met(flag) -> str:
    return MISSING if flag is None else ("met" if flag else "missed")


def sla_tables(report) -> list[Table]:
    marketing = Table("sla-marketing", "Marketing side: MQLs delivered vs target, acceptance",
                      ["Product", "Month", "MQLs", "Target", "Attainment", "Accepted",
                       "Rejected", "Acceptance rate", "Minimum", "Volume", "Quality"])
    sales = Table("sla-sales", "Sales side: first attempt, attempt limit, decision",
                  ["Product", "Month", "First-attempt clocks", "Met", "Breached",
                   "Compliance", "Median h to first attempt", "P90 h", "Attempt-limit compliance",
                   "Decision compliance"],
                  note="Hours are business hours of the agreement's calendar.")
    trend = Table("sla-trend", "Six-month trend", marketing.headers[:3] + [
        "Target", "Acceptance rate", "First-attempt compliance", "Attempt-limit compliance"])
    for p in report.products:
        for row in p.months + [p.total]:
            label = _month_label(row, p.timezone)
            marketing.rows.append([
                p.product, label, num(row.mqls), num(row.target), pct(row.attainment),
                num(row.accepted), num(row.rejected), pct(row.acceptance_rate),
                pct(float(row.min_acceptance)) if row.min_acceptance is not None else MISSING,
                _met(row.volume_met), _met(row.quality_met)])
            fa = row.clocks["first_attempt"]
            sales.rows.append([
                p.product, label, num(fa.clocks), num(fa.met), num(fa.breached),
                pct(fa.compliance), hours(row.median_seconds), hours(row.p90_seconds),
                pct(row.clocks["attempt_limit"].compliance), pct(row.clocks["decision"].compliance)])
        for row in p.trend:
            trend.rows.append([p.product, _month_label(row, p.timezone), num(row.mqls),
                               num(row.target), pct(row.acceptance_rate),
                               pct(row.clocks["first_attempt"].compliance),
                               pct(row.clocks["attempt_limit"].compliance)])
    return [marketing, sales, trend, breaches_table(report)]


def scorecard_table(report) -> Table:
    """Both sides of each product's agreement over the whole period, one row per product."""
    table = Table("scorecard", "SLA scorecards for the period",
                  ["Product", "MQLs", "Target", "Attained", "Accepted", "Minimum",
                   "First attempt on time", "Median h", "P90 h", "Attempt limit kept",
                   "Decided on time", "Breaches"],
                  note="Marketing: MQLs delivered against the target, share accepted by sales. "
                       "Sales: clocks met ÷ decided; business hours from assignment to the "
                       "first attempt.")
    for p in report.products:
        row = p.total
        table.rows.append([
            p.product, num(row.mqls), num(row.target), pct(row.attainment),
            pct(row.acceptance_rate),
            pct(float(row.min_acceptance)) if row.min_acceptance is not None else MISSING,
            pct(row.clocks["first_attempt"].compliance), hours(row.median_seconds),
            hours(row.p90_seconds), pct(row.clocks["attempt_limit"].compliance),
            pct(row.clocks["decision"].compliance),
            num(sum(s.breached for s in row.clocks.values()))])
    return table


def breaches_table(report) -> Table:
    table = Table("breaches", "SLA breaches by rep",
                  ["Rep", "First attempt", "Attempt limit", "Decision", "Total"],
                  note="Breached clocks among those started in the period.")
    table.rows = [[b.name, *[num(b.by_kind.get(k, 0)) for k in KIND_LABELS], num(b.total)]
                  for b in report.breaches]
    return table


def speed_table(s) -> Table:
    table = Table("speed", "Conversion to won by time to first attempt",
                  ["Time to first attempt", "Leads", "Won", "Conversion to won"])
    table.rows = [[b.label, num(b.leads), num(b.won), pct(b.conversion)] for b in s.bands]
    return table


def rejection_table(r) -> Table:
    table = Table("rejections", "Reasons sales gave, per program",
                  ["Program", "Closed as", "Reason", "Leads", "Share", "Examples"])
    for reason in r.reasons:
        examples = "; ".join(
            f"#{e.lead_id} {e.company or ''}{(' – ' + e.note) if e.note else ''}".strip()
            for e in reason.examples)
        table.rows.append([reason.program, reason.kind, reason.reason, num(reason.count),
                           pct(reason.share), examples])
    return table


def referrer_tables(r) -> list[Table]:
    part = Table("participation", "Participation",
                 ["Referrers", "All", "Active in the period", "Active share", "Referrals",
                  "Referrals per active referrer"])
    part.rows = [[p.kind.capitalize(), num(p.referrers), num(p.active), pct(p.share_active),
                  num(p.referrals), ratio(p.per_active)] for p in r.participation]
    out = [part]
    for kind, rows in r.best.items():
        best = Table(f"best-{kind}s", f"Best {kind}s", ["#", "Referrer", "Company", "Referrals",
                                                        "SQLs", "Won", "Won value"])
        best.rows = [[str(n), x.name, x.company or "", num(x.referrals), num(x.sqls),
                      num(x.won), money(x.won_value)] for n, x in enumerate(rows, start=1)]
        out.append(best)
    clicks = Table("click-to-lead", "Link clicks to referrals (lifetime of the codes)",
                   ["Program", "Visits", "Referrals submitted", "Click-to-lead"])
    clicks.rows = [[c.program, num(c.visits), num(c.submissions), pct(c.click_to_lead)]
                   for c in r.clicks]
    return out + [clicks]


def mine_tables(m) -> list[Table]:
    conversion = Table("mine-conversion", "My leads received in the period",
                       ["Stage", "Leads", "Share of my leads"])
    conversion.rows = [[STAGE_LABELS[s], num(m.counts.count(s)),
                        pct(m.conversion(s)) if s != "leads" else ""]
                       for s in ("leads", "sql", "opportunity", "won", "rejected", "recycled")]
    sla = Table("mine-sla", "My SLA clocks started in the period",
                ["Obligation", "Clocks", "Met", "Breached", "Pending", "Compliance"])
    sla.rows = [[KIND_LABELS[k], num(s.clocks), num(s.met), num(s.breached), num(s.pending),
                 pct(s.compliance)] for k, s in m.clocks.items()]
    sla.rows.append(["Median / p90 business hours to first attempt",
                     hours(m.median_seconds), hours(m.p90_seconds), "", "", ""])
    return [conversion, sla]
