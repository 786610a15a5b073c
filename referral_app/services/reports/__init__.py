"""Reports read by both teams: funnel, leaderboards, SLA, speed, rejections, referrers, pack.

Every figure comes from aggregate SQL over indexed columns; only aggregated rows (one per
program, rep, product-month...) reach Python. Periods are inclusive local dates (periods.py).
"""
from referral_app.services.reports.common import currencies_in
from referral_app.services.reports.funnel import Funnel, StageCounts, funnel, stage_counts
from referral_app.services.reports.leaderboards import Leaderboards, leaderboards
from referral_app.services.reports.mine import MyNumbers, my_numbers
from referral_app.services.reports.pack import Pack, interlock_pack, note_for, save_note, version_of
from referral_app.services.reports.periods import Period, parse_period, product_zones, report_zone
from referral_app.services.reports.referrers import Referrers, referrers
from referral_app.services.reports.rejections import Rejections, rejections
from referral_app.services.reports.sla_report import SlaReport, sla_report
from referral_app.services.reports.speed import Speed, speed

__all__ = [
    "Funnel", "Leaderboards", "MyNumbers", "Pack", "Period", "Referrers", "Rejections",
    "SlaReport", "Speed", "StageCounts", "currencies_in", "funnel", "interlock_pack", "leaderboards",
    "my_numbers", "note_for", "parse_period", "product_zones", "referrers", "rejections",
    "report_zone", "save_note", "sla_report", "speed", "stage_counts", "version_of",
]
