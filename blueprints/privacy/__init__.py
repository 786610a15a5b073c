"""Privacy: the referee's consent withdrawal link, and the admin's export and erasure."""
from flask import Blueprint

bp = Blueprint("privacy", __name__, url_prefix="/privacy", template_folder="templates")

from blueprints.privacy import views  # noqa: E402,F401
