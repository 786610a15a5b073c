"""The JSON API under /api/v1: flask-smorest, Bearer tokens, the contract's error body.

Every module in this package that defines `blp` (a flask_smorest.Blueprint) is registered
by the app factory; shared helpers for those modules live in `blueprints.api.base`.
"""
import marshmallow as ma
from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_smorest import Api

from referral_app.errors import Unauthenticated
from referral_app.schemas import Schema


class ErrorDetail(Schema):
    code = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    fields = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


class ErrorBody(Schema):
    error = ma.fields.Nested(ErrorDetail, required=True)


class InterlockApi(Api):
    ERROR_SCHEMA = ErrorBody

    def _register_error_handlers(self):
        # blueprints.errors answers every error, JSON under /api and HTML elsewhere.
        pass


API_PREFIX = "/api/v1/"


class CookieSessionOutsideApi(SecureCookieSessionInterface):
    """No cookie session under /api/v1/: the API authenticates by Bearer token only, so a
    cookie sent along is neither read nor answered. Opening the signed cookie was 8 % of a web
    worker's CPU under intake load (bench, session 10), for a session nothing there uses."""

    def open_session(self, app, request):
        if request.path.startswith(API_PREFIX):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if request.path.startswith(API_PREFIX):
            return None
        return super().save_session(app, session, response)


def money_as_string(self, field, ret=None, **kwargs) -> dict:
    """Document `Decimal(as_string=True)` as the string it is ("100.00"), not a number.

    apispec calls every Decimal a number and copies Range bounds as strings, which makes
    the document contradict the contract (money is a string with two decimals).
    """
    if not isinstance(field, ma.fields.Decimal) or ret is None:
        return {}
    for key in ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum"):
        if key in ret and not isinstance(ret[key], (int, float)):
            ret[key] = float(ret[key])  # a Decimal bound, rendered as a string
    if field.as_string:
        for key in ("maximum", "minimum", "exclusiveMaximum", "exclusiveMinimum"):
            ret.pop(key, None)
        nullable = ret.get("nullable")
        ret["type"] = "string"
        ret["format"] = "decimal"
        ret["pattern"] = r"^-?[0-9]+(\.[0-9]+)?$"
        if nullable:
            ret["nullable"] = True
    return {}


def init_api(app: Flask) -> Api:
    api = InterlockApi(app, spec_kwargs={
        "info": {"description": "Interlock's public HTTP API. Authenticate with "
                               "`Authorization: Bearer <token>` (see `flask tokens create`)."},
    })
    api.ma_plugin.converter.add_attribute_function(money_as_string)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.options["security"] = [{"bearerAuth": []}]

    app.session_interface = CookieSessionOutsideApi()

    @app.before_request
    def authenticate_api_caller():
        if not request.path.startswith(API_PREFIX):
            return None
        # JSON bodies are small: refuse big ones (413) before anything reads them.
        request.max_content_length = app.config["MAX_JSON_BYTES"]
        from referral_app.services.auth import lookup_identity

        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user, g.api_token_to_stamp = lookup_identity(token.strip()) \
            if scheme.lower() == "bearer" else (None, None)
        if user is None:
            raise Unauthenticated("Send a valid API token as `Authorization: Bearer <token>`.")
        g.api_identity = user  # base.caller() attaches it to the session when needed
        return None

    @app.teardown_request
    def stamp_token_use(_exc=None):
        # After the request's own transaction (see services.auth.lookup_token).
        token_id = g.pop("api_token_to_stamp", None)
        if token_id is None:
            return
        from referral_app.models.base import utcnow
        from referral_app.services.auth import stamp_use

        try:
            stamp_use(token_id, utcnow())
        except Exception as exc:  # noqa: BLE001  bookkeeping never fails a request
            app.logger.warning("could not record the use of API token %s: %r", token_id, exc)

    return api
