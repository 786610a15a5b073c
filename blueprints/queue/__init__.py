"""The sales follow-up queue, the lead page and the managers' team view."""
from flask import Blueprint

bp = Blueprint("queue", __name__, url_prefix="/queue", template_folder="templates")

from blueprints.queue import team, views  # noqa: E402,F401
