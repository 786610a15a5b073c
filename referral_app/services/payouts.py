"""Payout batches: the referrer rewards issued in a period, exported as CSV for finance."""
import csv
import io
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import func, select, update

from referral_app.errors import ValidationFailed
from referral_app.extensions import db
from referral_app.models import PayoutBatch, Program, Reward, User

CSV_HEADER = ["batch_id", "reward_id", "referrer_id", "referrer_email", "referrer_name",
              "program", "referral_id", "trigger", "amount", "currency", "issued_at", "status"]


def payable():
    """Issued money rewards to referrers that are in no batch yet."""
    return (Reward.side == "get", Reward.kind == "fixed", Reward.status == "issued",
            Reward.payout_batch_id.is_(None))


def create_batch(period_start: datetime, period_end: datetime,
                 actor_id: int | None = None) -> PayoutBatch:
    """Collect every payable reward issued in [start, end) into a new batch.

    One set-based UPDATE claims the rewards, so a reward lands in exactly one batch even
    when two people create batches at the same time.
    """
    if period_end <= period_start:
        raise ValidationFailed("The period ends before it starts.",
                               {"period_end": ["Pick an end after the start."]})
    batch = PayoutBatch(period_start=period_start, period_end=period_end, created_by_id=actor_id)
    db.session.add(batch)
    db.session.flush()
    claimed = db.session.execute(
        update(Reward).where(*payable(), Reward.issued_at >= period_start,
                             Reward.issued_at < period_end)
        .values(payout_batch_id=batch.id).execution_options(synchronize_session=False))
    if claimed.rowcount == 0:
        raise ValidationFailed("Nothing to pay in that period.",
                               {"period_start": ["No issued referrer rewards in this period are "
                                                 "waiting for a payout."]})
    db.session.expire_all()  # rewards in the session now belong to the batch
    return batch


def totals(batch_ids: list[int]) -> dict[int, list[tuple[str, int, object]]]:
    """Per batch: (currency, number of rewards, sum) for each currency, of non-void rewards."""
    out: dict[int, list] = {batch_id: [] for batch_id in batch_ids}
    if not batch_ids:
        return out
    rows = db.session.execute(
        select(Reward.payout_batch_id, Reward.currency, func.count(Reward.id), func.sum(Reward.amount))
        .where(Reward.payout_batch_id.in_(batch_ids), Reward.status == "issued")
        .group_by(Reward.payout_batch_id, Reward.currency).order_by(Reward.currency))
    for batch_id, currency, count, total in rows:
        out[batch_id].append((currency, count, total))
    return out


def pending_totals() -> list[tuple[str, int, object]]:
    """What the next batch would pay, per currency."""
    return list(db.session.execute(
        select(Reward.currency, func.count(Reward.id), func.sum(Reward.amount))
        .where(*payable()).group_by(Reward.currency).order_by(Reward.currency)))


def _cell(value) -> str:
    # Spreadsheet apps run cells starting with these as formulas: names are user input.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CHUNK_ROWS = 1000  # lines per chunk of the streamed download: few writes, constant memory


def csv_lines(batch_id: int) -> Iterator[str]:
    """The batch as CSV, about CHUNK_ROWS lines per chunk (for a streamed download)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def drain() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_HEADER)
    yield drain()
    # Plain columns, not ORM entities: no identity map or object per row.
    query = (select(Reward.id, Reward.referrer_id, User.email, User.name, Program.slug,
                    Reward.referral_id, Reward.trigger, Reward.amount, Reward.currency,
                    Reward.issued_at, Reward.status)
             .join(User, User.id == Reward.referrer_id)
             .join(Program, Program.id == Reward.program_id)
             .where(Reward.payout_batch_id == batch_id).order_by(Reward.id)
             .execution_options(yield_per=CHUNK_ROWS))
    result = db.session.execute(query)
    for rows in result.partitions():
        writer.writerows(
            [batch_id, rid, referrer_id, _cell(email), _cell(name), _cell(slug),
             referral_id, _cell(trigger), _cell(f"{amount:.2f}"), _cell(currency),
             issued_at.isoformat() if issued_at else "", _cell(status)]
            for rid, referrer_id, email, name, slug, referral_id, trigger, amount, currency,
            issued_at, status in rows)
        yield drain()
