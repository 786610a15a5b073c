"""The referee landing page (/r/<code>) and marketing's CSV imports."""
from flask import Blueprint

bp = Blueprint("intake", __name__, template_folder="templates")

from blueprints.intake import landing, uploads  # noqa: E402,F401
