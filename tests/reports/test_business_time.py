"""Business hours in SQL equal BusinessCalendar.elapsed, also for awkward calendars."""
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Integer, literal, select

from referral_app.models import Agreement, SlaClock
from referral_app.services.reports import business_time
from referral_app.services.reports.common import calendars
from tests import factories
from tests.conftest import is_postgres

AWKWARD = {
    # Half-hour and quarter-hour openings, a lunch break, a DST change (29 March) and a holiday.
    "London": ("Europe/London", {str(d): [["08:30", "12:15"], ["13:00", "17:45"]] for d in range(5)},
               ["2026-03-30"]),
    # A half-hour zone: every opening and closing falls mid-hour in UTC.
    "Kolkata": ("Asia/Kolkata", {str(d): [["09:00", "18:00"]] for d in range(6)}, []),
    # Overnight support hours.
    "Night": ("America/Chicago", {str(d): [["22:00", "06:00"]] for d in range(7)}, []),
}


def _population(db):
    rng = random.Random(5)
    for product, (zone, hours, holidays) in AWKWARD.items():
        cal = factories.calendar(name=product, timezone=zone, hours=hours, holidays=holidays)
        agreement = factories.agreement(product=product, cal=cal)
        prog = factories.program(product=product)
        for _ in range(25):
            start = datetime(2026, 3, 20, tzinfo=UTC) + timedelta(minutes=rng.randrange(20 * 1440))
            lead = factories.lead(prog, received_at=start)
            end = start + timedelta(minutes=rng.randrange(6 * 1440))
            db.session.add(SlaClock(lead_id=lead.id, kind="first_attempt", agreement_id=agreement.id,
                                    started_at=start, due_at=end, met_at=end, status="met"))
    db.session.commit()
    return (select(SlaClock.id.label("k"), Agreement.calendar_id, SlaClock.started_at,
                   SlaClock.met_at.label("ended_at"), literal(0, Integer).label("won"))
            .join(Agreement, Agreement.id == SlaClock.agreement_id).subquery())


def test_each_duration_matches_the_calendar(db, monkeypatch):
    pop = _population(db)
    cals = calendars()
    span = (datetime(2026, 3, 19, tzinfo=UTC), datetime(2026, 4, 20, tzinfo=UTC))
    rows = db.session.execute(select(pop.c.k, pop.c.calendar_id, pop.c.started_at,
                                     pop.c.ended_at)).all()
    expected = {k: cals[c].elapsed(s, e).total_seconds() for k, c, s, e in rows}
    assert len(expected) == 75 and sum(1 for v in expected.values() if v % 3600) > 30
    paths = [True, False] if is_postgres() else [False]
    for sql in paths:
        monkeypatch.setattr(business_time, "SQL_ENABLED", sql)
        measured = business_time.summarise(pop, [["k"]], cals, span)
        assert {k: t.percentiles[0.5] for (_, k), t in measured.items()} == pytest.approx(
            expected, abs=1e-6), f"sql={sql}"


def test_percentile_interpolates_like_postgres():
    assert business_time.percentile([], 0.5) is None
    assert business_time.percentile([4.0], 0.9) == 4.0
    assert business_time.percentile([3.0, 1.0, 2.0, 10.0], 0.5) == 2.5
    assert business_time.percentile([0.5, 0.5, 2.0], 0.9) == pytest.approx(1.7)


def test_bands():
    edges = (3600, 18000, 86400)
    assert [business_time.band_of(s, edges) for s in (0, 3599, 3600, 18000, 86400, None)] == [
        0, 0, 1, 2, 3, 4]
