"""Marketing console: programs, messaging, definitions, calendars, the SLA agreement."""
from flask import Blueprint

bp = Blueprint("programs", __name__, url_prefix="/programs", template_folder="templates")

from blueprints.programs import agreement_views, console_views, views  # noqa: E402,F401
