"""Helpers shared by the API modules: the caller, authorization, pagination, schemas."""
import flask_smorest
import marshmallow as ma
from flask import g

from blueprints.api import ErrorBody
from referral_app.errors import Forbidden, NotFound
from referral_app.policy import may
from referral_app.schemas import Schema
from referral_app.services.auth import attached


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint, with each argument schema built once, not per request."""

    def arguments(self, schema, *args, **kwargs):
        # Given a class, webargs builds a new schema on every request: 5 % of a web worker's
        # CPU under intake load (bench, session 9). Schemas hold no per-request state.
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)

    def alt_response(self, status_code, response=None, **kwargs):
        """Document an alternative response without wrapping the view: flask-smorest's
        wrapper for one only calls the view, a call layer per documented response on every
        request (8 on POST /referrals: ~3 % of a web worker's CPU in py-spy under intake
        load, bench session 13). The view keeps the document smorest built for it.

        Given both a standard response and a description, the description is documented
        with the error body (smorest would drop it for the bare reference)."""
        if response is not None and kwargs.get("description"):
            response, kwargs["schema"] = None, ErrorBody
        document = super().alt_response(status_code, response, **kwargs)

        def decorator(func):
            func._apidoc = document(func)._apidoc  # a copy: the view's own is not changed
            return func

        return decorator


def caller():
    """The user behind the Bearer token of this request, in this request's session (attached
    on first use: the token cache's copy is detached)."""
    user = g.get("api_user")
    if user is None:
        user = g.api_user = attached(g.api_identity)
    return user


def identity():
    """Who the caller is, as the token cache remembers them: enough for their id and role
    checks, without attaching a copy to the session (a merge was a tenth of a web worker's
    CPU under intake load, bench session 10). Use `caller()` for anything else."""
    return g.api_identity


def found(obj, message: str = "Not found."):
    """The object, or a 404 when there is none."""
    if obj is None:
        raise NotFound(message)
    return obj


def require(action: str, obj=None, missing: str = "Not found."):
    """Refuse unless the caller may: 404 for an object they may not see, 403 otherwise."""
    if not may(identity() if obj is None else caller(), action, obj):
        if obj is not None:
            raise NotFound(missing)
        raise Forbidden("Your role may not do this.")
    return obj


def page_schema(item_schema, name: str):
    """A schema for the contract's paginated list: items, page, per_page, total."""
    return Schema.from_dict({
        "items": ma.fields.List(ma.fields.Nested(item_schema)),
        "page": ma.fields.Integer(),
        "per_page": ma.fields.Integer(),
        "total": ma.fields.Integer(),
    }, name=name)


def paginate(select, page: int, per_page: int, item_schema) -> dict:
    """Run a SQLAlchemy select for one page and count the whole, in two statements."""
    from sqlalchemy import func
    from sqlalchemy import select as sa_select

    from referral_app.extensions import db

    total = db.session.scalar(sa_select(func.count()).select_from(select.order_by(None).subquery()))
    rows = db.session.scalars(select.limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": item_schema.dump(rows, many=True), "page": page, "per_page": per_page,
            "total": total}


def request_hash() -> str:
    """This request's body hash for its Idempotency-Key, computed once (the replay check and
    the write's stored answer both need it)."""
    from flask import request

    from referral_app.services import idempotency

    if "request_hash" not in g:
        g.request_hash = idempotency.body_hash(request.get_data())
    return g.request_hash


def replayed_answer():
    """The stored first answer when this write repeats an Idempotency-Key, else None.

    Called from a blueprint's before_request, after its authorization check, so a replay
    is never shown to a caller who may not make the write.
    """
    from flask import request

    from referral_app.models.base import utcnow
    from referral_app.services import idempotency

    key = idempotency.check_key(request.headers.get(idempotency.HEADER))
    if key is None:
        return None
    record = idempotency.stored(identity().id, key, request_hash(), utcnow())
    if record is None:
        return None
    return replay(record.status_code, record.response)


def replay(status: int, body: dict):
    """A stored first answer, given again, marked `Idempotent-Replayed: true`."""
    from flask import jsonify

    response = jsonify(body)
    response.status_code = status
    response.headers["Idempotent-Replayed"] = "true"
    return response
