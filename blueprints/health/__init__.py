"""GET /healthz for load balancers and operators."""
from flask import Blueprint, jsonify

from referral_app.extensions import csrf, limiter
from referral_app.services import health

bp = Blueprint("health", __name__)
csrf.exempt(bp)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    body, down = health.check()
    if down:
        body["down"] = down
    return jsonify(body), 503 if down else 200
