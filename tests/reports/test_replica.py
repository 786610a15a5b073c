"""REPORTS_DATABASE_URL: report reads go to the replica; sign-in, writes and jobs stay on the
primary. The "replica" here is an empty copy of the schema, so where a figure came from shows."""
import psycopg
import pytest
from sqlalchemy import select

from referral_app.extensions import Base
from referral_app.models import InterlockNote
from referral_app.replica import REPLICA
from referral_app.services import reports
from referral_app.services.auth import create_token
from tests import services
from tests.conftest import is_postgres, make_app, sign_in
from tests.reports.conftest import Q1
from tests.reports.html import ReportPage


@pytest.fixture
def replica_app(app, tmp_path):
    from referral_app.extensions import db

    if is_postgres():
        schema = f"{services.RUN_ID}_replica"
        plain = services.postgres_url().replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        bind = {"url": services.postgres_url(),
                "connect_args": {"options": f"-csearch_path={schema}"}}
    else:
        bind = {"url": f"sqlite:///{tmp_path / 'replica.db'}"}
    application = make_app(SQLALCHEMY_BINDS={REPLICA: bind})
    with application.app_context():
        Base.metadata.create_all(db.engines[REPLICA])
    yield application
    with application.app_context():
        for engine in db.engines.values():
            engine.dispose()
    if is_postgres():
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _funnel_leads(application, token: str) -> int:
    response = application.test_client().get(
        "/api/v1/reports/funnel", query_string=Q1, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.data[:300]
    return response.get_json()["stages"]["leads"]


def test_the_reports_api_reads_the_replica(app, db, world, frozen, replica_app, make_user):
    token = create_token(make_user("marketing").email)  # the token lives on the primary
    db.session.commit()
    assert _funnel_leads(app, token) == 7  # no replica: the primary's leads
    assert _funnel_leads(replica_app, token) == 0  # the (empty) replica answered


def test_report_pages_read_the_replica_but_notes_are_written_and_read_on_the_primary(
        db, world, frozen, replica_app, make_user):
    client = sign_in(replica_app.test_client(), make_user("sales_manager"))  # primary
    page = client.get("/reports/", query_string=Q1)
    assert page.status_code == 200  # signed in: the user was read from the primary
    assert ReportPage(page.get_data(as_text=True)).tables["funnel"][1][0][:2] == ["Leads", "0"]
    saved = client.post("/reports/pack", query_string=Q1,
                        data={"notes": "Agreed on the primary", "version": "0"})
    assert saved.status_code == 302
    assert db.session.scalar(select(InterlockNote.notes)) == "Agreed on the primary"
    # The page that follows reads its figures from the replica and the notes just saved
    # from the primary (the replica may lag behind its writer).
    html = client.get("/reports/pack", query_string=Q1).get_data(as_text=True)
    assert "Agreed on the primary" in html
    assert ReportPage(html).tables["funnel"][1][0][:2] == ["Leads", "0"]


def test_jobs_and_services_outside_report_requests_read_the_primary(
        db, world, frozen, replica_app, period):
    from referral_app.extensions import db as ext

    with replica_app.app_context():
        assert reports.funnel(period).counts.leads == 7
        ext.session.remove()
