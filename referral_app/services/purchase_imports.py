"""Purchase CSV uploads: stored on disk, imported row by row by a job, with a report."""
import csv
import uuid
from pathlib import Path

import marshmallow as ma
from sqlalchemy.exc import IntegrityError

from referral_app.errors import DomainError, ValidationFailed
from referral_app.extensions import db
from referral_app.jobs import IMPORTS, enqueue_after_commit
from referral_app.models import CsvImport
from referral_app.models.base import utcnow
from referral_app.schemas.purchases import PurchaseIn
from referral_app.services import conversion

COLUMNS = ("external_id", "email", "amount", "currency", "purchased_at", "referral_code")
REQUIRED = COLUMNS[:5]
COMMIT_EVERY = 200  # rows per transaction: progress shows, and a crash loses little


def start(instance_path: str, filename: str, stream, user_id: int) -> CsvImport:
    """Save an uploaded file and queue its import; the job reports per row."""
    folder = Path(instance_path) / "uploads" / "purchases"
    folder.mkdir(parents=True, exist_ok=True)
    stored = folder / f"{uuid.uuid4().hex}.csv"
    with stored.open("wb") as out:
        while chunk := stream.read(64 * 1024):
            out.write(chunk)
    header = _header(stored)
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        stored.unlink(missing_ok=True)
        raise ValidationFailed("The file lacks columns.",
                               {"file": [f"Missing column(s): {', '.join(missing)}. Expected: "
                                         f"{', '.join(COLUMNS)}."]})
    row = CsvImport(kind="purchases", user_id=user_id, filename=filename[:300],
                    stored_path=str(stored))
    db.session.add(row)
    db.session.flush()
    enqueue_after_commit("referral_app.jobs.purchases.import_csv", row.id, queue=IMPORTS)
    return row


def _header(path: Path) -> list[str]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            return [name.strip().lower() for name in next(csv.reader(handle), [])]
    except UnicodeDecodeError as exc:
        raise ValidationFailed("The file is not UTF-8 text.",
                               {"file": ["Save the file as CSV (UTF-8)."]}) from exc


def run(import_id: int) -> str:
    """Import every row (idempotent: a row already imported is counted as a duplicate)."""
    job = db.session.get(CsvImport, import_id)
    if job is None or job.status == "done":
        return job.status if job else "missing"
    job.status, job.processed, job.created, job.duplicates, job.invalid = "running", 0, 0, 0, 0
    report_path = Path(job.stored_path).with_suffix(".report.csv")
    schema = PurchaseIn()
    with open(job.stored_path, newline="", encoding="utf-8-sig") as source, \
            report_path.open("w", newline="") as report:
        reader = csv.DictReader(source)
        reader.fieldnames = [name.strip().lower() for name in reader.fieldnames or []]
        out = csv.writer(report)
        out.writerow(["row", "external_id", "result", "message"])
        for number, raw in enumerate(reader, start=2):
            result, message = _import_row(schema, raw)
            setattr(job, result, getattr(job, result) + 1)
            job.processed += 1
            out.writerow([number, (raw.get("external_id") or "")[:200], result, message])
            if job.processed % COMMIT_EVERY == 0:
                db.session.commit()
    job.total_rows, job.status, job.finished_at = job.processed, "done", utcnow()
    job.report_path = str(report_path)
    return "done"


def _import_row(schema: PurchaseIn, raw: dict) -> tuple[str, str]:
    data = {name: raw.get(name) for name in COLUMNS if raw.get(name) not in (None, "")}
    try:
        values = schema.load(data)
        with db.session.begin_nested():
            _, created = conversion.record_purchase(**values)
    except ma.ValidationError as exc:
        return "invalid", "; ".join(f"{k}: {' '.join(map(str, v))}"
                                    for k, v in exc.normalized_messages().items())
    except DomainError as exc:
        return "invalid", "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items()) \
            or exc.message
    except IntegrityError:
        return "duplicates", "already recorded"
    return ("created", "recorded") if created else ("duplicates", "already recorded")
