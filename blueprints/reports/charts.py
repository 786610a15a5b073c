"""Chart.js payloads for the report pages: plain numbers, read by static/js/reports.js."""
from blueprints.reports.tables import STAGE_LABELS, board_title


def _pct(value):
    return None if value is None else round(value * 100, 1)


def funnel_chart(f) -> dict:
    stages = ("leads", "mql", "sql", "opportunity", "won", "lost", "rejected", "recycled")
    return {"type": "bar", "labels": [STAGE_LABELS[s] for s in stages],
            "datasets": [{"label": "Leads", "data": [f.counts.count(s) for s in stages]}]}


def speed_chart(s) -> dict:
    return {"type": "bar", "labels": [b.label for b in s.bands],
            "datasets": [{"label": "Conversion to won (%)",
                          "data": [_pct(b.conversion) for b in s.bands]}],
            "percent": True}


def sla_trend_chart(product) -> dict:
    labels = [row.start.strftime("%b %Y") for row in product.trend]
    return {"type": "bar", "labels": labels, "datasets": [
        {"label": "MQLs delivered", "data": [row.mqls for row in product.trend]},
        {"label": "Target", "type": "line", "data": [row.target for row in product.trend]},
        {"label": "First-attempt compliance (%)", "type": "line", "yAxisID": "percent",
         "data": [_pct(row.clocks["first_attempt"].compliance) for row in product.trend]},
        {"label": "Acceptance rate (%)", "type": "line", "yAxisID": "percent",
         "data": [_pct(row.acceptance_rate) for row in product.trend]},
    ], "secondaryPercent": True}


def board_chart(boards, entity: str, measure: str) -> dict:
    entries = boards.board(entity, measure, "top")
    return {"type": "bar", "indexAxis": "y", "labels": [e.name for e in entries],
            "datasets": [{"label": board_title(entity, measure, "top") + " (rate %)",
                          "data": [_pct(e.rate) for e in entries]}], "percent": True}


def rejection_chart(r) -> dict:
    totals: dict[str, int] = {}
    for reason in r.of("rejected"):
        totals[reason.reason] = totals.get(reason.reason, 0) + reason.count
    ordered = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    return {"type": "bar", "indexAxis": "y", "labels": [k for k, _ in ordered],
            "datasets": [{"label": "Rejected leads", "data": [v for _, v in ordered]}]}
