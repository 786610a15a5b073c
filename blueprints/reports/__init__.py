"""Dashboards, leaderboards, the SLA report and the interlock pack."""
from flask import Blueprint, request
from flask_login import current_user

from referral_app.replica import read_from_replica

bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="templates")


@bp.before_request
def reads_from_replica():
    """Pages and downloads read the replica when there is one; the signed-in user is read
    from the primary first, and a POST (the pack's notes) stays on the primary."""
    if request.method in ("GET", "HEAD"):
        current_user._get_current_object()
        read_from_replica()

from blueprints.reports import views  # noqa: E402,F401
