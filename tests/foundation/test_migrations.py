"""Migrations: one head, and upgrading a fresh database yields exactly the models."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from referral_app.app import create_app
from referral_app.extensions import db
from tests.conftest import _state, is_postgres, make_config


def _alembic_config(app):
    return app.extensions["migrate"].migrate.get_config(app.extensions["migrate"].directory)


def test_one_alembic_head(app):
    heads = ScriptDirectory.from_config(_alembic_config(app)).get_heads()
    assert len(heads) == 1


def _assert_no_drift(url, connect_args=None):
    engine = create_engine(url, connect_args=connect_args or {})
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, db.metadata)
    engine.dispose()
    assert diffs == []


def test_sqlite_upgrade_matches_models(tmp_path):
    url = f"sqlite:///{tmp_path}/migrated.db"
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={}))
    # Through `flask db upgrade`, as `make run` does (Flask-Migrate is loaded on first use).
    assert "upgrade" in app.test_cli_runner().invoke(args=["db", "--help"]).output
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    _assert_no_drift(url)


def test_postgres_upgrade_matches_models():
    if not is_postgres():
        pytest.skip("PostgreSQL not reachable (CI requires it)")
    schema = _state["schema"] + "_mig"
    plain = _state["database"]
    engine = create_engine(plain)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    options = {"connect_args": {"options": f"-csearch_path={schema}"}}
    try:
        app = create_app(make_config(SQLALCHEMY_ENGINE_OPTIONS=options))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        _assert_no_drift(plain, options["connect_args"])
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_web_processes_do_not_load_alembic(tmp_path):
    """Flask-Migrate (Alembic, Mako, Pygments: ~12 MB a process) loads only when used."""
    import subprocess
    import sys

    code = ("import sys; from referral_app.app import create_app; create_app(); "
            "print(sorted(m for m in ('alembic', 'flask_migrate', 'mako', 'pygments') "
            "if m in sys.modules))")
    env = {"INSTANCE_PATH": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_0005_fills_in_the_referrer_of_bulk_imported_leads(tmp_path):
    """Leads the CSV import's COPY path stored without their referral's referrer get it."""
    url = f"sqlite:///{tmp_path}/old.db"
    app = create_app(make_config(SQLALCHEMY_DATABASE_URI=url, SQLALCHEMY_ENGINE_OPTIONS={}))
    from datetime import UTC, datetime

    from referral_app.models import Lead, Program, Referral, User

    at = datetime(2026, 11, 1, 10, tzinfo=UTC)
    with app.app_context():
        upgrade(revision="0004")
        with db.engine.begin() as conn:  # Core inserts: the columns' defaults apply
            conn.execute(User.__table__.insert().values(
                id=7, email="r@x.example", name="R", role="referrer", kind="customer",
                password_hash="x"))
            conn.execute(Program.__table__.insert().values(id=1, name="P", slug="p",
                                                           product="Widget", status="active"))
            for n, referrer in ((1, 7), (2, None)):
                conn.execute(Referral.__table__.insert().values(
                    id=n, program_id=1, referrer_id=referrer, source="csv", status="submitted",
                    referee_name="N", referee_email=f"n{n}@x.example", consent_at=at,
                    created_at=at))
                conn.execute(Lead.__table__.insert().values(
                    id=n, referral_id=n, program_id=1, product="Widget", stage="new",
                    is_open=True, email=f"n{n}@x.example", received_at=at))
        upgrade()
        with db.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT id, referrer_id, touched_at IS NOT NULL FROM leads ORDER BY id")).all()
        db.engine.dispose()
    assert [tuple(r) for r in rows] == [(1, 7, 1), (2, None, 0)]
