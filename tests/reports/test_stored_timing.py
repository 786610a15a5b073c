"""Time to first attempt from the stored SlaClock.business_seconds equals the measured one."""
import pytest
from sqlalchemy import Integer, literal, select, update

from referral_app.models import Agreement, SlaClock
from referral_app.services import sla
from referral_app.services.reports import business_time
from referral_app.services.reports.common import calendars
from referral_app.services.reports.sla_measures import SPEED_EDGES, all_measured
from tests.conftest import is_postgres
from tests.reports.test_business_time import _population


def test_stored_seconds_give_the_same_figures_as_the_calendar(db, monkeypatch):
    _population(db)
    clocks = db.session.scalars(select(SlaClock)).all()
    lo = min(c.started_at for c in clocks)
    hi = max(c.met_at for c in clocks)
    span = (lo, hi)
    assert not all_measured(lo, hi)  # met before the column: measured the slow way
    for c in clocks:
        c.business_seconds = sla.measured_seconds(c, c.met_at)
    db.session.commit()
    assert all_measured(lo, hi)
    # One clock not yet met: no duration, in the last band.
    db.session.execute(update(SlaClock).where(SlaClock.id == clocks[0].id)
                       .values(met_at=None, business_seconds=None, status="running"))
    db.session.commit()
    pop = (select(Agreement.product, Agreement.calendar_id, SlaClock.started_at,
                  SlaClock.met_at.label("ended_at"), literal(0, Integer).label("won"),
                  SlaClock.business_seconds.label("secs"))
           .join(Agreement, Agreement.id == SlaClock.agreement_id).subquery())
    cals = calendars()
    sets = [["product"], []]
    paths = [True, False] if is_postgres() else [False]
    for sql in paths:
        monkeypatch.setattr(business_time, "SQL_ENABLED", sql)
        old = business_time.summarise(pop, sets, cals, span, edges=SPEED_EDGES)
        new = business_time.summarise(pop, sets, cals, span, edges=SPEED_EDGES, stored=True)
        assert old.keys() == new.keys() and len(old) == 4
        for key, timing in old.items():
            assert (new[key].rows, new[key].timed, new[key].bands) == (
                timing.rows, timing.timed, timing.bands)
            assert new[key].percentiles == pytest.approx(timing.percentiles, abs=1e-6)
        assert old[(1,)].rows == 75 and old[(1,)].timed == 74
