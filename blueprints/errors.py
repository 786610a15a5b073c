"""Error responses: the contract's JSON body under /api, house-style pages elsewhere."""
import logging

from flask import jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from blueprints.web import error_body
from referral_app.errors import DomainError
from referral_app.extensions import db

log = logging.getLogger(__name__)

CODES = {400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media",
         422: "invalid", 429: "rate_limited", 500: "internal", 503: "unavailable"}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def flatten_messages(messages) -> dict:
    """webargs nests messages by location ({"json": {...}}); the contract has one level."""
    if isinstance(messages, dict) and set(messages) <= {"json", "query", "form", "files",
                                                        "headers", "view_args", "path"}:
        merged = {}
        for inner in messages.values():
            merged.update(inner if isinstance(inner, dict) else {"_schema": inner})
        messages = merged
    out = {}
    for field, value in (messages or {}).items():
        if isinstance(value, dict):
            for sub, sub_value in flatten_messages(value).items():
                out[f"{field}.{sub}"] = sub_value
        else:
            out[str(field)] = [str(v) for v in (value if isinstance(value, list) else [value])]
    return out


def error_response(status: int, code: str, message: str, fields: dict | None = None,
                   headers: dict | None = None):
    if wants_json():
        response = jsonify(error_body(status, code, message, fields))
    else:
        response = render_template("error.html", status=status, message=message), status
        response = _make(response)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _make(rv):
    from flask import make_response

    return make_response(rv)


PLAIN = {
    403: "This page belongs to another role. If your work needs it, ask an admin to change "
         "your role.",
    404: "There is nothing at this address: the link may be old or mistyped.",
}


def register(app) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message, exc.fields)

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(exc):
        retry = exc.retry_after if hasattr(exc, "retry_after") else None
        headers = {"Retry-After": str(int(retry or 60))}
        return error_response(429, "rate_limited", "Too many requests; please wait a moment.",
                              headers=headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 429:
            return rate_limited(exc)
        data = getattr(exc, "data", None) or {}
        fields = flatten_messages(data.get("messages") or data.get("errors") or {})
        message = data.get("message") or exc.description or exc.name
        if exc.description == type(exc).description and not wants_json():
            # werkzeug's stock sentence ("...read-protected or not readable by the server")
            # speaks to developers; a page speaks to the person who opened it.
            message = PLAIN.get(exc.code, message)
        if exc.code == 422 and fields:
            message = "Some fields are not valid."
        code = CODES.get(exc.code or 500, "error")
        if exc.code == 400 and "CSRF" in (exc.description or ""):
            code, message = "csrf", "The form expired or was not sent from this site; try again."
        return error_response(exc.code or 500, code, message, fields, data.get("headers"))

    @app.errorhandler(DataError)
    def out_of_range(exc):
        # A number the database cannot hold (e.g. ?referral_id=10**30): the caller's input.
        db.session.rollback()
        return error_response(422, "invalid", "A value is out of range.",
                              {"_query": ["A number is larger than any stored value."]})

    @app.errorhandler(OperationalError)
    def database_down(exc):
        log.error("database unavailable: %s", exc.__class__.__name__)
        db.session.rollback()
        return error_response(503, "unavailable",
                              "The database is not reachable right now; nothing was saved. "
                              "Please try again in a minute.")

    @app.errorhandler(InternalServerError)
    def internal(exc):
        return error_response(500, "internal", "Something went wrong on our side.")
