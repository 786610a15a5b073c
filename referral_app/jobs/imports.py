"""The CSV import job: streams the file in batches, commits each, writes the per-row report."""
import csv
import importlib
import logging
from pathlib import Path

from flask import current_app
from redis.exceptions import RedisError
from rq import Retry

from referral_app.extensions import db
from referral_app.jobs.base import app_job
from referral_app.jobs.queues import DEFAULT, get_queue, rq_job_id
from referral_app.models import CsvImport
from referral_app.models.base import utcnow
from referral_app.services import imports, intake

log = logging.getLogger(__name__)

BATCH_ROWS = 500


def report_path(csv_import: CsvImport) -> Path:
    folder = Path(current_app.instance_path) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"import-{csv_import.id}-report.csv"


def _batches(rows, size: int):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def enqueue_submitted(referral_ids: list[int]) -> None:
    """The rewards follow-up of a batch's new referrals, as one job after the batch's commit.

    An interactive intake enqueues `referral_submitted(id)` per referral; for an import that
    is one Redis job per row, the slowest part of a 100,000-row import, so a batch gets one
    job that runs the same function for each of its referrals.
    """
    if not referral_ids:
        return
    try:
        get_queue(DEFAULT).enqueue(
            submitted_many, list(referral_ids), retry=Retry(max=3, interval=[10, 60, 300]),
            job_id=rq_job_id(f"referrals-submitted-{referral_ids[0]}-{referral_ids[-1]}"))
    except (RedisError, OSError) as exc:
        # The referrals are committed; like enqueue_after_commit, log and go on.
        log.warning("could not enqueue the rewards job of %d referrals (%s)",
                    len(referral_ids), exc)


@app_job
def submitted_many(referral_ids: list[int]) -> int:
    """Run the rewards job of each referral (each commits on its own; all are idempotent, so
    a retry after one failure redoes nothing that succeeded)."""
    module, name = intake.SUBMITTED_JOB.rsplit(".", 1)
    submitted = getattr(importlib.import_module(module), name)
    failures = []
    for referral_id in referral_ids:
        try:
            submitted(referral_id)
        except Exception as exc:  # one referral must not stop the others; RQ retries the rest
            log.warning("rewards job of referral %s failed: %s", referral_id, exc)
            failures.append(referral_id)
    if failures:
        raise RuntimeError(f"the rewards job failed for referrals {failures[:20]}")
    return len(referral_ids)


@app_job
def run_import(import_id: int, batch_rows: int = BATCH_ROWS) -> str:
    """Import one uploaded CSV; idempotent: a finished import is left alone, a failed or
    interrupted one resumes after the last committed batch."""
    csv_import = db.session.get(CsvImport, import_id)
    if csv_import is None:
        return "missing"
    if csv_import.status == "done":
        return "done"
    report = report_path(csv_import)
    resuming = csv_import.processed > 0 and report.exists()
    if not resuming:
        csv_import.processed = csv_import.created = csv_import.duplicates = 0
        csv_import.invalid = 0
        csv_import.total_rows = imports.count_records(csv_import.stored_path)
    csv_import.status, csv_import.error = "running", None
    csv_import.report_path = str(report)
    db.session.commit()
    try:
        _run(csv_import, report, resuming, batch_rows)
    except Exception as exc:
        db.session.rollback()
        failed = db.session.get(CsvImport, import_id)
        failed.status, failed.error = "failed", f"{type(exc).__name__}: {exc}"[:500]
        db.session.commit()
        raise
    return "done"


def _run(csv_import: CsvImport, report: Path, resuming: bool, batch_rows: int) -> None:
    ctx = imports.BatchContext(csv_import)
    rows = imports.records(csv_import.stored_path, csv_import.mapping or {},
                           skip=csv_import.processed)
    with report.open("a" if resuming else "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        if not resuming:
            writer.writerow(imports.REPORT_HEADER)
        for batch in _batches(rows, batch_rows):
            outcomes, referral_ids = imports.import_batch(ctx, batch, utcnow())
            db.session.commit()
            # After the commit, so a crash never reports rows that were rolled back.
            writer.writerows(o.as_list() for o in outcomes)
            out.flush()
            enqueue_submitted(referral_ids)
    csv_import.status, csv_import.finished_at = "done", utcnow()
    csv_import.total_rows = max(csv_import.total_rows, csv_import.processed)
