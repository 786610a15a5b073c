"""CSV imports of referrals: the file read as a stream, preview and column mapping, one batch.

The file is never loaded whole: `records` walks it with the csv module over a text wrapper
and `import_batch` takes one batch of rows through the same validation and checks as
`intake.submit` (with the duplicate check against a set pre-loaded per batch), then inserts
the batch in bulk (see `imports_bulk`). The job in `jobs.imports` owns the commits.
"""
import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from referral_app.errors import DomainError, Duplicate, ValidationFailed
from referral_app.extensions import db
from referral_app.models import CsvImport, Program, User
from referral_app.services import codes, imports_bulk
from referral_app.services import intake_checks as checks

# What a column can be mapped to; name and email are required.
TARGETS = {
    "name": "Name", "email": "E-mail", "company": "Company", "phone": "Phone", "title": "Job title",
    "country": "Country (ISO code)", "note": "Note", "referrer_email": "Referrer's e-mail",
    "consent": "Consent (yes/no)", "company_size": "Company size", "deal_value": "Deal value",
}
REQUIRED_TARGETS = ("name", "email")
GUESSES = {
    "name": {"name", "full name", "fullname", "contact", "contact name", "referee", "referee name"},
    "email": {"email", "e-mail", "email address", "e-mail address", "mail", "referee email"},
    "company": {"company", "company name", "organisation", "organization", "account"},
    "phone": {"phone", "phone number", "telephone", "mobile", "tel"},
    "title": {"title", "job title", "position", "role"},
    "country": {"country", "country code"},
    "note": {"note", "notes", "comment", "comments"},
    "referrer_email": {"referrer", "referrer email", "referrer e-mail", "referred by"},
    "consent": {"consent", "opt in", "opt-in", "agreed"},
    "company_size": {"company size", "employees", "size"},
    "deal_value": {"deal value", "deal size", "value", "amount"},
}
YES = {"yes", "y", "true", "1", "x", "ja", "oui", "si"}
REPORT_HEADER = ["line", "status", "email", "referral_id", "lead_id", "message"]


@dataclass
class Row:
    """One record of the file: its line, its values by target, or why it could not be read."""

    line: int
    values: dict = field(default_factory=dict)
    error: str | None = None


@dataclass
class Outcome:
    """What became of one row: a line of the per-row report."""

    line: int
    status: str  # created | held | duplicate | invalid | <refusal code>
    email: str = ""
    referral_id: int | None = None
    lead_id: int | None = None
    message: str = ""

    def as_list(self) -> list:
        return [self.line, self.status, self.email, self.referral_id or "", self.lead_id or "",
                self.message]


def open_text(path: str):
    # utf-8-sig drops the BOM spreadsheets write; undecodable bytes become U+FFFD and the
    # row fails validation instead of the whole import failing.
    return open(path, newline="", encoding="utf-8-sig", errors="replace")


def _reader(handle) -> Iterator[tuple[int, list[str] | None, str | None]]:
    """(line, values, error) per non-blank record; a record csv cannot parse is an error."""
    reader = csv.reader(handle)
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, None, f"This line cannot be read as CSV ({exc})."
            continue
        if values and any(v.strip() for v in values):
            yield reader.line_num, values, None


def header_and_preview(path: str, rows: int = 5) -> tuple[list[str], list[list[str]]]:
    """The header and the first `rows` records, for the mapping page."""
    with open_text(path) as handle:
        records = _reader(handle)
        first = next(records, None)
        if first is None or first[1] is None:
            return [], []
        preview = []
        for _, values, _error in records:
            if len(preview) >= rows:
                break
            preview.append(values or [])
        return [h.strip() for h in first[1]], preview


def count_records(path: str) -> int:
    """How many data records the file holds (one streamed pass)."""
    with open_text(path) as handle:
        return max(sum(1 for _ in _reader(handle)) - 1, 0)


def guess_mapping(headers: list[str]) -> dict[str, str]:
    """target -> header, from the usual names of columns."""
    mapping = {}
    for header in headers:
        key = header.strip().lower().replace("_", " ")
        for target, names in GUESSES.items():
            if key in names and target not in mapping:
                mapping[target] = header
    return mapping


def records(path: str, mapping: dict, skip: int = 0) -> Iterator[Row]:
    """The data rows with their values by target, skipping the first `skip` (a resumed job)."""
    with open_text(path) as handle:
        source = _reader(handle)
        header = next(source, None)
        if header is None or header[1] is None:
            return
        headers = [h.strip() for h in header[1]]
        index = {target: headers.index(column) for target, column in mapping.items()
                 if target in TARGETS and column in headers}
        for number, (line, values, error) in enumerate(source):
            if number < skip:
                continue
            if error:
                yield Row(line, error=error)
            elif len(values) > len(headers) and any(v.strip() for v in values[len(headers):]):
                yield Row(line, error=f"This line has {len(values)} values; the header has "
                                      f"{len(headers)}.")
            else:
                yield Row(line, {target: (values[i] if i < len(values) else "")
                                 for target, i in index.items()})


class BatchContext:
    """What one import keeps between rows: the program, referrers and codes by e-mail."""

    def __init__(self, csv_import: CsvImport):
        self.csv_import = csv_import
        self.program: Program = csv_import.program
        self.attested = bool((csv_import.mapping or {}).get("_consent_attested"))
        self.referrers: dict[str, User | None] = {}
        self.codes: dict[int, object] = {}

    def load_referrers(self, emails) -> None:
        wanted = {e for e in emails if e and e not in self.referrers}
        if not wanted:
            return
        found = db.session.scalars(select(User).where(User.email.in_(wanted),
                                                      User.role == "referrer"))
        by_email = {u.email.lower(): u for u in found}
        for email in wanted:
            self.referrers[email] = by_email.get(email)

    def code(self, referrer: User):
        if referrer.id not in self.codes:
            self.codes[referrer.id] = codes.code_for(referrer.id, self.program.id)
        return self.codes[referrer.id]


def _consent(row: Row, ctx: BatchContext) -> bool:
    if "consent" in row.values:
        return row.values["consent"].strip().lower() in YES
    return ctx.attested


def _message(exc: DomainError) -> str:
    if exc.fields:
        return "; ".join(f"{name.removeprefix('referee.')}: {' '.join(msgs)}"
                         for name, msgs in exc.fields.items())
    return exc.message


def _check_row(row: Row, ctx: BatchContext, known: set[str], at: datetime):
    """(submission, referrer) for a row that passes every check; raises DomainError otherwise."""
    values = row.values
    referrer = None
    referrer_email = values.get("referrer_email", "").strip().lower()
    if referrer_email:
        referrer = ctx.referrers.get(referrer_email)
        if referrer is None:
            raise ValidationFailed("Unknown referrer.", {"referrer_email": [
                f"No referrer has the e-mail {referrer_email}."]})
    checks.check_program(ctx.program, referrer)
    referee = {k: values.get(k) for k in ("name", "email", "company", "phone", "title", "country")
               if k in values}
    consent = _consent(row, ctx)
    data = checks.clean(referee, note=values.get("note", ""), consent=consent,
                        company_size=values.get("company_size") or None,
                        deal_value=values.get("deal_value") or None)
    checks.check_consent(consent)
    email = data["referee"]["email"]
    checks.check_self_referral(ctx.program, referrer, email)
    checks.check_duplicate(email, known)
    return data, referrer


def import_batch(ctx: BatchContext, rows: list[Row],
                 at: datetime) -> tuple[list[Outcome], list[int]]:
    """Import one batch; (the report lines in file order, the new referral ids).

    Updates the import's counters. Refusals are recorded like every other source's.
    """
    readable = [r for r in rows if not r.error]
    ctx.load_referrers(r.values.get("referrer_email", "").strip().lower() for r in readable)
    known = checks.known_emails(str(r.values.get("email", "")).strip().lower() for r in readable)
    outcomes: dict[int, Outcome] = {}
    accepted = []
    for position, row in enumerate(rows):
        if row.error:
            outcomes[position] = Outcome(row.line, "invalid", message=row.error)
            continue
        email = str(row.values.get("email", "")).strip().lower()
        try:
            data, referrer = _check_row(row, ctx, known, at)
        except DomainError as exc:
            outcomes[position] = refuse(ctx, row, exc, email, at)
            continue
        known.add(data["referee"]["email"])  # a second row of the same person is a duplicate
        accepted.append((position, row, data, referrer))
    rows_at = {position: (row, data) for position, row, data, _referrer in accepted}
    for position, result in imports_bulk.create_many(ctx, accepted, at).items():
        row, data = rows_at[position]
        if isinstance(result, DomainError):
            outcomes[position] = refuse(ctx, row, result, data["referee"]["email"], at)
        else:
            referral_id, lead_id, status = result
            outcomes[position] = Outcome(row.line, status, data["referee"]["email"],
                                         referral_id, lead_id)
    ordered = [outcomes[i] for i in sorted(outcomes)]
    tally(ctx.csv_import, ordered)
    return ordered, [o.referral_id for o in ordered if o.referral_id]


def refuse(ctx: BatchContext, row: Row, exc: DomainError, email: str, at: datetime) -> Outcome:
    if checks.is_refusal(exc):
        referrer = ctx.referrers.get(row.values.get("referrer_email", "").strip().lower())
        checks.refusal(ctx.program, referrer.id if referrer else None, "csv", exc.code,
                       email.strip().lower(), {"line": row.line, **row.values}, None, at)
        status = "duplicate" if isinstance(exc, Duplicate) else exc.code
    else:
        status = "invalid"
    return Outcome(row.line, status, email=str(email).strip().lower(), message=_message(exc))


def tally(csv_import: CsvImport, outcomes: list[Outcome]) -> None:
    csv_import.processed += len(outcomes)
    csv_import.created += sum(o.status in ("created", "held") for o in outcomes)
    csv_import.duplicates += sum(o.status == "duplicate" for o in outcomes)
    csv_import.invalid += sum(o.status not in ("created", "held", "duplicate") for o in outcomes)
