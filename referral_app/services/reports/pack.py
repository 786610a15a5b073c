"""The interlock pack: every figure the review needs for one period, and the meeting's notes.

Notes are stored per period (InterlockNote, unique on from/to dates). Each save bumps a
version kept in `data`; a save based on an older version is refused (409) instead of
silently overwriting what a colleague typed during the same meeting.
"""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from referral_app.errors import Conflict, ValidationFailed
from referral_app.extensions import db
from referral_app.models import InterlockNote
from referral_app.models.base import utcnow
from referral_app.replica import from_primary
from referral_app.services.reports.funnel import Funnel, funnel
from referral_app.services.reports.leaderboards import Leaderboards, leaderboards
from referral_app.services.reports.rejections import Rejections, rejections
from referral_app.services.reports.sla_report import SlaReport, sla_report
from referral_app.services.reports.speed import Speed, speed

MAX_NOTES = 50_000


@dataclass
class Pack:
    period: object
    funnel: Funnel
    leaderboards: Leaderboards
    sla: SlaReport
    rejections: Rejections
    speed: Speed
    note: InterlockNote | None


def interlock_pack(period, now: datetime, min_volume: int | None = None) -> Pack:
    boards = leaderboards(period) if min_volume is None else leaderboards(period, min_volume)
    return Pack(period=period, funnel=funnel(period), leaderboards=boards,
                sla=sla_report(period, now), rejections=rejections(period),
                speed=speed(period, now), note=note_for(period))


def note_for(period, lock: bool = False) -> InterlockNote | None:
    """The period's notes, from the primary even where the figures come from a replica:
    whoever just saved them sees them at once."""
    stmt = select(InterlockNote).where(InterlockNote.period_from == period.start,
                                       InterlockNote.period_to == period.end)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    with from_primary():
        return db.session.scalar(stmt)


def version_of(note: InterlockNote | None) -> int:
    return int((note.data or {}).get("version", 1)) if note is not None else 0


def save_note(period, text: str, user_id: int, base_version: int) -> InterlockNote:
    """Store the notes for the period; Conflict when someone saved since `base_version`."""
    text = (text or "").replace("\r\n", "\n")
    if len(text) > MAX_NOTES:
        raise ValidationFailed("The notes are too long.",
                               fields={"notes": [f"At most {MAX_NOTES:,} characters."]})
    note = note_for(period, lock=True)
    if version_of(note) != base_version:
        raise Conflict("Someone saved these notes while you were editing; your text is kept "
                       "below so you can merge it into theirs.")
    if note is None:
        note = InterlockNote(period_from=period.start, period_to=period.end, data={})
        try:
            with db.session.begin_nested():
                db.session.add(note)
                db.session.flush()
        except IntegrityError:
            raise Conflict("Someone saved these notes while you were editing; your text is "
                           "kept below so you can merge it into theirs.") from None
    note.notes = text
    note.data = {**(note.data or {}), "version": base_version + 1}
    note.updated_by_id = user_id
    note.updated_at = utcnow()
    db.session.flush()
    return note
