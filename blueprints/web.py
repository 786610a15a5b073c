"""Helpers shared by the web blueprints: authorization, navigation, filters, headers."""
import functools
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import nh3
from flask import abort, current_app, request, url_for
from flask_login import current_user, login_required
from markdown_it import MarkdownIt
from markupsafe import Markup

from referral_app.policy import may

# (lower-cased name, name, value) of the headers every response gets (web.init_app).
SECURITY_HEADERS = tuple((name.lower(), name, value) for name, value in (
    ("Content-Security-Policy",
     "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
))
HSTS = (("strict-transport-security", "Strict-Transport-Security",
         "max-age=31536000; includeSubDomains"),)  # production only: TLS in front

# (endpoint, label, roles). A link shows only once its endpoint exists in the URL map.
NAVIGATION = [
    ("portal.home", "Programs", {"referrer"}),
    ("portal.referrals", "My referrals", {"referrer"}),
    ("rewards.mine", "My rewards", {"referrer"}),
    ("queue.index", "My queue", {"sales", "sales_manager"}),
    ("queue.team", "Team", {"sales_manager", "admin"}),
    ("programs.index", "Programs", {"marketing", "admin"}),
    ("programs.agreements", "Agreement", {"marketing", "sales_manager", "admin"}),
    ("programs.glossary", "Definitions", {"sales", "sales_manager", "marketing", "admin"}),
    ("rewards.review", "Rewards", {"marketing", "admin"}),
    ("intake.imports", "Imports", {"marketing", "admin"}),
    ("reports.dashboard", "Reports", {"sales_manager", "marketing", "admin"}),
    ("reports.pack", "Interlock pack", {"sales_manager", "marketing", "admin"}),
    ("reports.mine", "My numbers", {"sales"}),
    ("admin.users", "Users", {"admin"}),
    ("admin.outbox", "Outbox", {"admin"}),
    ("privacy.admin", "Privacy", {"admin"}),
]

HOME_BY_ROLE = {
    "referrer": "portal.home",
    "sales": "queue.index",
    "sales_manager": "queue.team",
    "marketing": "programs.index",
    "admin": "admin.users",
}

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


def render_markdown(text: str | None) -> Markup:
    """Markdown to HTML that cannot carry script: raw HTML off, then an allow-list sanitiser."""
    html = _markdown.render(text or "")
    return Markup(nh3.clean(html, link_rel="noopener noreferrer nofollow"))


def authorize(action: str, obj=None):
    """Abort unless the signed-in user may: 404 for objects they may not see, else 403."""
    if not may(current_user, action, obj):
        abort(404 if obj is not None else 403)
    return obj


def roles_required(action: str):
    """View decorator: signed in, and the role allows `action`."""

    def decorate(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            authorize(action)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def local_time(value: datetime | None, zone: str | None = None, fmt: str = "%d %b %Y %H:%M"):
    if value is None:
        return "—"
    tz = ZoneInfo(zone or current_app.config.get("DISPLAY_TIMEZONE", "UTC"))
    return value.astimezone(tz).strftime(fmt)


def money(value, currency: str = "USD") -> str:
    if value is None:
        return "—"
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency, currency + " ")
    return f"{symbol}{Decimal(value):,.2f}"


def init_app(app) -> None:
    app.config.setdefault("DISPLAY_TIMEZONE", "UTC")
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["money"] = money

    @app.context_processor
    def navigation():
        endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
        role = getattr(current_user, "role", None) if current_user.is_authenticated else None
        links = [(e, label) for e, label, roles in NAVIGATION if role in roles and e in endpoints]
        return {"nav_links": links, "nav_current": current_link(links),
                "may": lambda action, obj=None: may(current_user, action, obj)}

    wanted = SECURITY_HEADERS + (HSTS if app.config.get("PRODUCTION") else ())

    @app.after_request
    def security_headers(response):
        # Each header unless the view set its own. One pass over the response's few
        # headers, then add what is missing: werkzeug's Headers.setdefault finds a name by
        # raising and catching a KeyError, 17 µs a response for these against 6 (bench
        # session 12; every API request pays it).
        headers = response.headers
        present = {name.lower() for name, _ in headers.items()}
        for lowered, name, value in wanted:
            if lowered not in present:
                headers.add(name, value)
        return response


def current_link(links: list) -> str | None:
    """The navigation link the page is under: the one whose URL is the longest prefix of
    the page's path (a user's edit page is under Users, the agreement under Agreement
    rather than Programs)."""
    path, best = request.path, (None, "")
    for endpoint, _ in links:
        url = url_for(endpoint)
        under = path == url or (url != "/" and path.startswith(url.rstrip("/") + "/"))
        if under and len(url) > len(best[1]):
            best = (endpoint, url)
    return best[0]


def error_body(status: int, code: str, message: str, fields: dict | None = None) -> dict:
    """The contract's JSON error body (`fields` only on 422): blueprints/errors.py answers
    with it, and intake's group commit keeps it for Idempotency-Key replays."""
    body = {"error": {"code": code, "message": message}}
    if status == 422:
        body["error"]["fields"] = fields or {}
    return body


def errors_to_form(form, exc, default: str) -> None:
    """Put a DomainError's messages beside the fields they are about (intake's
    "referee.email" beside `email`), and a message about no field beside `default`."""
    for name, messages in (exc.fields or {default: [exc.message]}).items():
        target = getattr(form, name.removeprefix("referee."), None) or getattr(form, default)
        target.errors = [*target.errors, *messages]
