"""Marketing's reward review queue, payouts and purchase matching."""
from flask import Blueprint

bp = Blueprint("rewards", __name__, url_prefix="/rewards", template_folder="templates")
