"""Dashboards, leaderboards, the SLA report and the interlock pack."""
from flask import Blueprint

bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="templates")

from blueprints.reports import views  # noqa: E402,F401
