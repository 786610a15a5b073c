"""Administration: users, API tokens, the mail outbox."""
from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")

from blueprints.admin import views  # noqa: E402,F401
