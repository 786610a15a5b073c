"""GET /reports/funnel, /reports/leaderboards, /reports/sla: the numbers both teams share."""

from blueprints.api.base import Blueprint, require
from referral_app.errors import ValidationFailed
from referral_app.models.base import utcnow
from referral_app.replica import read_from_replica
from referral_app.schemas.reports import (
    FunnelArgs,
    FunnelOut,
    LeaderboardArgs,
    LeaderboardsOut,
    PeriodArgs,
    SlaOut,
)
from referral_app.services import reports
from referral_app.services.reports.common import program_by_slug

blp = Blueprint("reports_api", __name__,
                description="Reports for marketing and sales managers. Dates are inclusive, "
                            "in the zone of the product's SLA agreement.")


@blp.before_request
def reads_from_replica():
    """Report reads go to the replica when there is one (the caller was read already)."""
    read_from_replica()


def _period(args, product=None):
    zone = reports.report_zone(product)
    return reports.parse_period(args["from_"], args["to"], zone, utcnow())


@blp.route("/reports/funnel")
@blp.arguments(FunnelArgs, location="query")
@blp.response(200, FunnelOut)
@blp.alt_response(403, description="Your role may not read team reports.")
@blp.alt_response(422, description="Invalid dates or an unknown program.")
def funnel(args):
    """Leads of the period per stage reached, conversions, value and reward cost."""
    require("report.read")
    program = program_by_slug(args["program"])
    if args["program"] and program is None:
        raise ValidationFailed("Unknown program.", fields={"program": ["No program has this slug."]})
    product = args["product"] or (program.product if program is not None else None)
    return reports.funnel(_period(args, product), program=program, product=args["product"])


@blp.route("/reports/leaderboards")
@blp.arguments(LeaderboardArgs, location="query")
@blp.response(200, LeaderboardsOut)
@blp.alt_response(403, description="Your role may not read team reports.")
@blp.alt_response(422, description="Invalid dates.")
def leaderboards(args):
    """Top and bottom programs and reps by SQLs, opportunities and won deals."""
    require("report.read")
    return reports.leaderboards(_period(args, args["product"]), min_volume=args["min_volume"],
                                limit=args["limit"], product=args["product"])


@blp.route("/reports/sla")
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, SlaOut)
@blp.alt_response(403, description="Your role may not read team reports.")
@blp.alt_response(422, description="Invalid dates.")
def sla(args):
    """Both sides of each product's agreement per month, for the period, and the trend."""
    require("report.read")
    return reports.sla_report(_period(args, args["product"]), utcnow(), product=args["product"])
