"""CSV imports: streamed, batched, checked like every source, with a per-row report."""
import csv
import io
import time

import pytest
from rq import SimpleWorker
from sqlalchemy import func, select

from referral_app.jobs import IMPORTS, get_queue, redis_connection
from referral_app.jobs.imports import run_import
from referral_app.models import CsvImport, Lead, LeadEvent, Referral, RefusedReferral, SlaClock
from referral_app.services import imports
from tests import factories as f
from tests.conftest import is_postgres, sign_in

HEADER = "Full Name,E-mail,Company,Country,Phone,Referrer\n"


def write(tmp_path, text: str, name="leads.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def new_import(db, world, path: str, mapping=None, attested=True) -> CsvImport:
    mapping = mapping or {"name": "Full Name", "email": "E-mail", "company": "Company",
                          "country": "Country", "phone": "Phone", "referrer_email": "Referrer"}
    marketing = f.user("marketing")
    row = CsvImport(kind="referrals", program_id=world.program.id, user_id=marketing.id,
                    filename="leads.csv", stored_path=path, status="queued",
                    mapping={"_consent_attested": attested, **mapping})
    db.session.add(row)
    db.session.commit()
    return row


def report_of(csv_import) -> list[dict]:
    with open(csv_import.report_path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def count(db, model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_an_import_creates_reports_and_refuses_row_by_row(world, db, tmp_path):
    f.lead(world.program, email="known@prospect.example")
    text = ("\ufeff" + HEADER +
            "Ann One,ANN@one.example,One Inc,us,(650) 253-0000,carla@customer.example\n"
            "Bob Two,bob@two.example,Two Inc,DE,,\n"
            "Broken,row,with,too,many,values,here\n"
            "Cid Three,not-an-email,Three,US,,\n"
            "Kay Known,known@prospect.example,Known,US,,\n"
            "\n"
            "Ann Again,ann@one.example,One Inc,US,,\n"
            "Carla Herself,carla@customer.example,Customer,US,,carla@customer.example\n"
            "Zed Stranger,zed@z.example,Z,US,,nobody@nowhere.example\n")
    csv_import = new_import(db, world, write(tmp_path, text))
    assert run_import(csv_import.id) == "done"
    db.session.refresh(csv_import)
    assert (csv_import.status, csv_import.total_rows, csv_import.processed) == ("done", 8, 8)
    assert (csv_import.created, csv_import.duplicates, csv_import.invalid) == (2, 2, 4)
    report = report_of(csv_import)
    assert [(r["line"], r["status"]) for r in report] == [
        ("2", "created"), ("3", "created"), ("4", "invalid"), ("5", "invalid"),
        ("6", "duplicate"), ("8", "duplicate"), ("9", "self_referral"), ("10", "invalid")]
    assert "header has 6" in report[2]["message"] and "email" in report[3]["message"]
    assert "nobody@nowhere.example" in report[7]["message"]
    ann = db.session.get(Referral, int(report[0]["referral_id"]))
    assert (ann.source, ann.referee_email, ann.referee_phone, ann.referee_country) == \
        ("csv", "ann@one.example", "+16502530000", "US")
    assert ann.referrer_id == world.referrer.id and ann.code_id is not None
    assert ann.lead.id == int(report[0]["lead_id"]) and ann.lead.open_email == "ann@one.example"
    # The lead carries its referrer (the referrers report and the portal count by it).
    assert ann.lead.referrer_id == world.referrer.id
    assert db.session.scalar(select(LeadEvent.data).where(LeadEvent.lead_id == ann.lead.id)) \
        == {"source": "csv"}
    reasons = sorted(db.session.scalars(select(RefusedReferral.reason)))
    assert reasons == ["duplicate", "duplicate", "self_referral"]
    assert run_import(csv_import.id) == "done" and count(db, Referral) == 3  # idempotent


def test_imported_leads_are_qualified_routed_and_clocked(world, db, tmp_path):
    world.program.mql_on_arrival = True
    rows = "".join(f"P{n},p{n}@x{n}.example,X,US,,\n" for n in range(5))
    csv_import = new_import(db, world, write(tmp_path, HEADER + rows))
    run_import(csv_import.id, batch_rows=2)
    leads = db.session.scalars(select(Lead).order_by(Lead.id)).all()
    assert [lead.stage for lead in leads] == ["mql"] * 5
    rep1, rep2 = (r.id for r in world.reps)
    assert [lead.owner_id for lead in leads] == [rep1, rep2, rep1, rep2, rep1]
    assert count(db, SlaClock) == 5
    clocks = {c.lead_id: c for c in db.session.scalars(select(SlaClock))}
    assert all(lead.agreement_id and lead.sla_due_at == clocks[lead.id].due_at
               and clocks[lead.id].owner_id == lead.owner_id
               and clocks[lead.id].kind == "first_attempt" for lead in leads)
    assigned = db.session.scalars(select(LeadEvent).where(LeadEvent.kind == "assign")).all()
    assert sorted(e.lead_id for e in assigned) == [lead.id for lead in leads]
    # Arrivals need no follow-up: none is left for the recovery job to re-enqueue.
    arrivals = db.session.scalars(select(LeadEvent).where(LeadEvent.to_stage == "new")).all()
    assert len(arrivals) == 5 and all(e.processed_at is not None for e in arrivals)


def test_consent_comes_from_a_column_or_the_uploaders_word(world, db, tmp_path):
    text = "name,email,consent\nAnn,ann@a.example,yes\nBob,bob@b.example,no\n"
    csv_import = new_import(db, world, write(tmp_path, text), attested=False,
                            mapping={"name": "name", "email": "email", "consent": "consent"})
    run_import(csv_import.id)
    assert [r["status"] for r in report_of(db.session.get(CsvImport, csv_import.id))] == \
        ["created", "consent_required"]
    unattested = new_import(db, world, write(tmp_path, "name,email\nCy,cy@c.example\n", "b.csv"),
                            attested=False, mapping={"name": "name", "email": "email"})
    run_import(unattested.id)
    assert report_of(db.session.get(CsvImport, unattested.id))[0]["status"] == "consent_required"


def test_an_interrupted_import_resumes_after_its_last_commit(world, db, tmp_path, monkeypatch):
    rows = "".join(f"P{n},p{n}@x{n}.example,X,US,,\n" for n in range(5))
    csv_import = new_import(db, world, write(tmp_path, HEADER + rows))
    real, calls = imports.import_batch, []

    def flaky(ctx, batch, at):
        calls.append(len(batch))
        if len(calls) == 2:
            raise ConnectionError("database went away")
        return real(ctx, batch, at)

    monkeypatch.setattr(imports, "import_batch", flaky)
    with pytest.raises(ConnectionError):
        run_import(csv_import.id, batch_rows=2)
    db.session.refresh(csv_import)
    assert (csv_import.status, csv_import.processed) == ("failed", 2)
    assert "database went away" in csv_import.error
    assert run_import(csv_import.id, batch_rows=2) == "done"
    db.session.refresh(csv_import)
    assert (csv_import.processed, csv_import.created, count(db, Lead)) == (5, 5, 5)
    assert [r["line"] for r in report_of(csv_import)] == ["2", "3", "4", "5", "6"]


def test_preview_and_mapping_guesses(tmp_path):
    path = write(tmp_path, "\ufeffName,E-mail Address,Job Title,notes\n" +
                 "".join(f"N{n},n{n}@x.example,CEO,hi\n" for n in range(9)))
    headers, preview = imports.header_and_preview(path, rows=3)
    assert headers == ["Name", "E-mail Address", "Job Title", "notes"] and len(preview) == 3
    assert imports.guess_mapping(headers) == {"name": "Name", "email": "E-mail Address",
                                              "title": "Job Title", "note": "notes"}
    assert imports.count_records(path) == 9


def test_marketing_uploads_maps_and_downloads_the_report(world, db, client, make_user):
    sign_in(client, make_user("marketing"))
    data = (HEADER + "Ann One,ann@one.example,One,US,,\nBad,nope,X,US,,\n").encode()
    response = client.post("/intake/imports", data={
        "program": str(world.program.id), "attest": "y",
        "file": (io.BytesIO(data), "leads.csv")}, content_type="multipart/form-data")
    assert response.status_code == 302
    csv_import = db.session.scalar(select(CsvImport))
    assert csv_import.status == "mapping" and csv_import.stored_path.endswith(".csv")
    page = client.get(response.headers["Location"]).data.decode()
    assert "<td>Ann One</td>" in page and "<th>E-mail</th>" in page
    # Name and e-mail must be mapped, and a column maps to one field only.
    unmapped = {target: "" for target in imports.TARGETS}
    bad = client.post(response.headers["Location"],
                      data={**unmapped, "name": "Full Name", "company": "Full Name"})
    assert bad.status_code == 422
    assert "Choose the column that holds this." in bad.data.decode()
    assert "already mapped" in bad.data.decode()
    mapped = client.post(response.headers["Location"], data={
        **unmapped, "name": "Full Name", "email": "E-mail", "company": "Company",
        "country": "Country"})
    assert mapped.status_code == 302
    queue = get_queue(IMPORTS)
    assert queue.count == 1
    assert SimpleWorker([queue], connection=redis_connection()).work(burst=True)
    status = client.get(f"/intake/imports/{csv_import.id}/status").json
    assert {k: status[k] for k in ("status", "processed", "total", "created", "invalid")} == \
        {"status": "done", "processed": 2, "total": 2, "created": 1, "invalid": 1}
    report = client.get(status["report_url"])
    assert report.status_code == 200 and report.mimetype == "text/csv"
    lines = report.data.decode().splitlines()
    assert lines[0] == "line,status,email,referral_id,lead_id,message"
    assert lines[1].startswith("2,created,ann@one.example,") and lines[2].startswith("3,invalid")
    page = client.get(f"/intake/imports/{csv_import.id}").data.decode()
    assert 'data-status-url="/intake/imports/' in page and "js/imports.js" in page


def test_uploads_are_limited_in_size_and_to_marketing(world, db, client, make_user, monkeypatch):
    monkeypatch.setitem(client.application.config, "MAX_CONTENT_LENGTH", 2048)
    sign_in(client, make_user("marketing"))
    big = (HEADER + "A,a@a.example,A,US,,\n" * 200).encode()
    response = client.post("/intake/imports", data={
        "program": str(world.program.id), "file": (io.BytesIO(big), "big.csv")},
        content_type="multipart/form-data")
    assert response.status_code == 413 and count(db, CsvImport) == 0
    referrer = sign_in(client.application.test_client(), world.referrer)
    assert referrer.get("/intake/imports").status_code == 403
    assert referrer.get("/intake/refusals").status_code == 403


def test_marketing_reviews_refusals(world, db, client, make_user):
    db.session.add(RefusedReferral(program_id=world.program.id, referrer_id=world.referrer.id,
                                   source="api", reason="self_referral",
                                   email="<b>x</b>@example.com", payload={}))
    db.session.commit()
    page = sign_in(client, make_user("marketing")).get("/intake/refusals").data.decode()
    assert "self referral" in page and "carla@customer.example" in page
    assert "&lt;b&gt;x&lt;/b&gt;@example.com" in page
    filtered = client.get("/intake/refusals?reason=duplicate").data.decode()
    assert "carla@customer.example" not in filtered


@pytest.mark.slow
@pytest.mark.skipif(not is_postgres(),
                    reason="the bulk path is PostgreSQL's; SQLite goes row by row")
def test_a_100k_row_file_imports_streamed_in_batches(world, db, tmp_path):
    for rep in world.reps:
        rep.away = True  # measure the bulk path itself; routing is tested above
    db.session.commit()
    path = tmp_path / "big.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Full Name", "E-mail", "Company", "Country", "Phone", "Referrer"])
        for n in range(100_000):
            writer.writerow([f"Person {n}", f"person{n}@company{n % 997}.example",
                             f"Company {n % 997}", "US", "+1 650 253 0000", ""])
    csv_import = new_import(db, world, str(path))
    started = time.monotonic()
    assert run_import(csv_import.id) == "done"
    elapsed = time.monotonic() - started
    db.session.refresh(csv_import)
    assert (csv_import.processed, csv_import.created, csv_import.invalid) == (100_000,) * 2 + (0,)
    assert count(db, Lead) == 100_000 and count(db, LeadEvent) == 100_000
    with open(csv_import.report_path, encoding="utf-8") as handle:
        assert sum(1 for _ in handle) == 100_001
    assert get_queue("default").count == 200  # one rewards job per batch of 500
    print(f"100k rows in {elapsed:.1f}s")


CALLS: list[int] = []


def fake_submitted(referral_id: int) -> None:
    CALLS.append(referral_id)
    if referral_id == 2:
        raise ValueError("boom")


def test_a_batch_rewards_job_runs_every_referral_and_reports_failures(app, monkeypatch):
    from referral_app.jobs.imports import submitted_many
    from referral_app.services import intake

    monkeypatch.setattr(intake, "SUBMITTED_JOB", f"{__name__}.fake_submitted")
    CALLS.clear()
    with pytest.raises(RuntimeError, match=r"\[2\]"):
        submitted_many([1, 2, 3])
    assert CALLS == [1, 2, 3]  # one failure does not stop the rest; RQ retries the batch


@pytest.mark.skipif(not is_postgres(), reason="the COPY path is PostgreSQL's")
def test_a_bulk_imported_referral_fills_every_column_the_orm_path_fills(world, db, tmp_path):
    """The COPY path writes rows past the ORM's hooks (Lead's before_insert, the stage
    stamps of before_flush): whatever those fill must be filled by hand too."""
    from referral_app.models.base import utcnow
    from referral_app.services import codes, intake

    csv_import = new_import(db, world, write(tmp_path, HEADER + (
        "Ann One,ann@one.example,One Inc,US,+1 650 253 0000,carla@customer.example\n"
        "Bob Two,bob@two.example,Two Inc,US,+1 650 253 0001,carla@customer.example\n")))
    assert run_import(csv_import.id) == "done"
    data = {"referee": {"name": "Orm Path", "email": "orm@path.example", "company": "Orm Inc",
                        "country": "US", "phone": "+16502530002"}, "note": "", "consent": True}
    alone = intake.create(world.program, data, source="csv", referrer=world.referrer,
                          code_row=codes.code_for(world.referrer.id, world.program.id),
                          holds=[], ip=None, fingerprint=None, at=utcnow())
    db.session.commit()
    bulk = db.session.scalar(select(Referral).where(Referral.referee_email == "ann@one.example"))
    assert bulk is not None and bulk.id != alone.id

    def filled(row) -> set[str]:
        return {c.key for c in type(row).__table__.columns if getattr(row, c.key) is not None}

    assert filled(bulk) == filled(alone)
    assert filled(bulk.lead) == filled(alone.lead)
    arrival = {lead.id: db.session.scalar(select(LeadEvent).where(
        LeadEvent.lead_id == lead.id, LeadEvent.to_stage == "new")) for lead in (bulk.lead,
                                                                               alone.lead)}
    assert filled(arrival[bulk.lead.id]) == filled(arrival[alone.lead.id])
