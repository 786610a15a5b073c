"""Flask commands: up, seed-demo, users, tokens, sla sweep, reports roll-up."""
from datetime import UTC, datetime

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from referral_app.errors import DomainError
from referral_app.extensions import db
from referral_app.models.user import REFERRER_KINDS, ROLES

users = click.Group("users", help="Manage user accounts.")
tokens = click.Group("tokens", help="Manage API tokens.")
sla = click.Group("sla", help="SLA clocks.")
reports = click.Group("reports", help="Report data.")


def _fail(exc: DomainError) -> None:
    db.session.rollback()
    details = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items())
    raise click.ClickException(exc.message + (f" ({details})" if details else ""))


@users.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--kind", type=click.Choice(REFERRER_KINDS), help="customer or partner (referrers)")
@click.option("--name", default="")
@click.option("--product", default=None, help="The product a sales rep sells.")
@click.option("--password", default=None, help="Prompted for when omitted.")
@with_appcontext
def create_user(email, role, kind, name, product, password):
    """Create a user with ROLE (referrer, sales, sales_manager, marketing or admin)."""
    from referral_app.services.auth import create_user as create

    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if role == "referrer" and kind is None:
        kind = "customer"
    try:
        user = create(email, role, password=password, name=name, kind=kind, product=product)
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
    click.echo(f"Created {user.email} ({user.role}{', ' + user.kind if user.kind else ''}).")


@users.command("update")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), default=None)
@click.option("--kind", type=click.Choice(REFERRER_KINDS), default=None)
@click.option("--name", default=None)
@click.option("--product", default=None, help="The product a rep sells.")
@click.option("--active/--inactive", default=None,
              help="--inactive signs them out and stops their API tokens.")
@click.option("--away/--present", default=None, help="Away: round robin skips this rep.")
@with_appcontext
def update_user(email, role, kind, name, product, active, away):
    """Change EMAIL's role, kind, name or product, deactivate or mark them away."""
    from referral_app.models import User
    from referral_app.services.auth import normalise_email, open_leads_of
    from referral_app.services.auth import update_user as update

    user = db.session.scalar(db.select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise click.ClickException(f"No user {email}.")
    role = role or user.role
    try:
        update(user.id, actor_id=None, name=user.name if name is None else name, role=role,
               kind=(kind or user.kind) if role == "referrer" else None,
               product=user.product if product is None else product,
               manager_id=user.manager_id, active=user.active if active is None else active,
               away=user.away if away is None else away)
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
    state = "active" if user.active else "deactivated"
    click.echo(f"{user.email}: {user.role.replace('_', ' ')}, {state}"
               f"{', away' if user.away else ''}.")
    left = open_leads_of(user.id) if not user.active else 0
    if left:
        click.echo(f"They still own {left} open lead(s): reassign them on the team page.")


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="", help="What the token is for.")
@with_appcontext
def create_token(email, name):
    """Create an API token for EMAIL; the token alone is the last line printed."""
    from referral_app.services.auth import create_token as create

    try:
        plain = create(email, name)
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
    click.echo("Store this token now; it is kept only as a hash and cannot be shown again:")
    click.echo(plain)


@tokens.command("list")
@click.argument("email", required=False)
@with_appcontext
def list_tokens(email):
    """List API tokens (EMAIL's only, when given): prefix, user, name, created, last used."""
    from referral_app.services.auth import tokens as all_tokens

    def when(value):
        return value.strftime("%Y-%m-%d %H:%M UTC") if value else "-"

    rows = all_tokens(email)
    if not rows:
        click.echo("No API tokens." if not email else f"No API tokens for {email}.")
    for t in rows:
        state = f"revoked {when(t.revoked_at)}" if t.revoked_at else "active"
        click.echo(f"{t.prefix}…  {t.user.email}  {t.name or '-'}  created {when(t.created_at)}"
                   f"  last used {when(t.last_used_at)}  {state}")


@tokens.command("revoke")
@click.argument("token")
@with_appcontext
def revoke_token(token):
    """Revoke TOKEN, given in full or by the prefix `flask tokens list` shows."""
    from referral_app.services.auth import revoke_token as revoke

    try:
        row = revoke(token)
        db.session.commit()
    except DomainError as exc:
        _fail(exc)
    click.echo(f"Revoked {row.prefix}… of {row.user.email}. Processes that have used it stop "
               "accepting it within API_TOKEN_CACHE_SECONDS.")


def _parse_at(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        at = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 instant") from exc
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@sla.command("sweep")
@click.option("--at", "at", default=None, help="Evaluate as of this ISO-8601 instant.")
@with_appcontext
def sweep(at):
    """Mark every running clock that is past due as breached; print how many."""
    from referral_app.services import sla as sla_service

    # The breach notifications are enqueued with the sweep and leave on commit.
    breached = sla_service.sweep_and_enqueue(_parse_at(at))
    db.session.commit()
    click.echo(f"{len(breached)} clock(s) breached.")


@reports.command("roll-up")
@click.option("--at", "at", default=None, help="Roll up as of this ISO-8601 instant.")
@with_appcontext
def roll_up(at):
    """Roll up every report day not yet rolled up or touched since; print how many."""
    from referral_app.services.reports import cohort_days, rollups

    now = _parse_at(at)
    sla_days, lead_days = rollups.roll_up(now), cohort_days.roll_up(now)
    db.session.commit()
    click.echo(f"{sla_days} SLA day(s) and {lead_days} cohort day(s) rolled up.")


@click.command("seed-demo")
@with_appcontext
def seed_demo():
    """Load the demo company (idempotent: a second run changes nothing)."""
    from referral_app.services import demo

    created = demo.seed()
    db.session.commit()
    click.echo("Demo data loaded." if created else "Demo data already present; nothing changed.")
    for email, password, role in demo.SIGN_INS:
        click.echo(f"  {role:<14} {email} / {password}")


@click.command("up")
@click.option("--port", type=int, default=None, help="Web port (default: PORT or 5000).")
@click.option("--host", default="127.0.0.1")
@click.option("--workers", type=int, default=1, help="RQ worker processes.")
@with_appcontext
def up(port, host, workers):
    """Start web, RQ worker(s) with scheduler and rq cron; Ctrl-C stops all of them."""
    from flask import current_app

    from referral_app import runtime

    raise SystemExit(runtime.run(current_app, port or current_app.config["PORT"], host, workers))


def register(app: Flask) -> None:
    for command in (users, tokens, sla, reports, seed_demo, up):
        app.cli.add_command(command)


def main() -> None:
    """The `interlock` console script: the same commands as `flask --app wsgi`."""
    from referral_app.app import create_app

    FlaskGroup(create_app=create_app, help="Interlock commands.")()
