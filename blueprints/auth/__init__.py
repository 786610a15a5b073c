"""Sign-in, sign-out, referrer self-sign-up and the role-aware home page."""
from flask import Blueprint

bp = Blueprint("auth", __name__, template_folder="templates")

from blueprints.auth import views  # noqa: E402,F401
