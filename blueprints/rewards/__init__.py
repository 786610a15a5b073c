"""Marketing's reward review queue, payouts and purchase matching; the referrer's rewards."""
from flask import Blueprint

bp = Blueprint("rewards", __name__, url_prefix="/rewards", template_folder="templates")

from blueprints.rewards import hooks, money, views  # noqa: E402,F401
