"""The referrer portal: programs, personal links, referring, following referrals."""
from flask import Blueprint

bp = Blueprint("portal", __name__, url_prefix="/portal", template_folder="templates")

from blueprints.portal import views  # noqa: E402,F401
