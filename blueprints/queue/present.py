"""Presentation helpers of the queue pages: durations in words and the lead's timeline."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from referral_app.extensions import db
from referral_app.models import Lead, User
from referral_app.services.definitions import condition


def duration_text(seconds: int | None) -> str:
    """What the countdown shows before the browser ticks it (same wording as app.js)."""
    if seconds is None:
        return "—"
    sign = "overdue by " if seconds < 0 else ""
    s = abs(int(seconds))
    h, m, r = s // 3600, (s % 3600) // 60, s % 60
    if h >= 24:
        return f"{sign}{h // 24}d {h % 24}h"
    return f"{sign}{f'{h}h ' if h else ''}{m}m{'' if h else f' {r}s'}"


@dataclass
class Entry:
    at: datetime
    kind: str  # stage | assign | attempt
    who: str
    title: str
    detail: str


def _name(user) -> str:
    return (user.name or user.email) if user is not None else "Interlock"


def _owners(events) -> dict[int, str]:
    """The names of the reps the lead's assignment events name, in one query."""
    ids = {(e.data or {}).get("to_owner") for e in events if e.kind == "assign"} - {None}
    if not ids:
        return {}
    return {u.id: _name(u) for u in db.session.scalars(select(User).where(User.id.in_(ids)))}


def timeline(lead: Lead) -> list[Entry]:
    """Stage events, assignments and attempts of one lead, oldest first."""
    entries = []
    owners = _owners(lead.events)
    for event in lead.events:
        if event.kind == "assign":
            data = event.data or {}
            to = owners.get(data.get("to_owner"), "a rep")
            title = f"Reassigned to {to}" if data.get("from_owner") else f"Assigned to {to}"
        elif event.from_stage is None:
            title = f"Arrived as {event.to_stage}"
        else:
            title = f"{event.from_stage} → {event.to_stage}"
        detail = event.reason or ""
        note = (event.data or {}).get("note")
        if note:
            detail = f"{detail}: {note}" if detail else note
        entries.append(Entry(event.at, event.kind, _name(event.actor), title, detail))
    for attempt in lead.attempts:
        entries.append(Entry(attempt.at, "attempt", _name(attempt.user),
                             f"{attempt.channel}: {attempt.outcome.replace('_', ' ')}",
                             attempt.note or ""))
    # An attempt and the move it caused share their time (the last attempt allowed recycles
    # the lead): the attempt comes first.
    return sorted(entries, key=lambda e: (e.at, e.kind != "attempt"))


def score_lines(lead: Lead) -> list[tuple[str, int]]:
    """The scoring rules that fired for the lead, in words, with their points."""
    return [(condition(r.get("field"), r.get("operator"), r.get("value")), r.get("points", 0))
            for r in lead.score_rules or []]

