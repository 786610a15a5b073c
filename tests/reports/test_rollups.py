"""SLA days: rolled-up days give exactly the live figures, touched days are read live, and
only settled days are rolled up (the hand-computed world of conftest.py)."""
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, func, select, text, update

from referral_app.models import Lead, LeadEvent, SlaClock, SlaDay, SlaDayClock
from referral_app.services import leads, reports
from referral_app.services.reports import common, rolled, rollups
from referral_app.services.reports.sla_measures import Layout
from tests.conftest import is_postgres
from tests.reports.conftest import NOW, utc


def figures(report) -> dict:
    """Every number of an SLA report, keyed so that two reports compare field by field."""
    out = {}
    for product in report.products:
        for part, rows in (("month", product.months), ("trend", product.trend),
                           ("total", [product.total])):
            for row in rows:
                out[(product.product, part, row.key)] = (
                    row.mqls, row.accepted, row.rejected, row.target, row.timed,
                    row.median_seconds, row.p90_seconds,
                    {k: (s.clocks, s.met, s.breached) for k, s in row.clocks.items()})
    out["breaches"] = [(b.owner_id, b.by_kind) for b in report.breaches]
    return out


def speed_figures(result) -> tuple:
    return [(b.leads, b.won) for b in result.bands], result.median_seconds


@pytest.fixture
def settled(db, world):
    """The world as a bulk load leaves it: nothing touched since (the generator's COPY)."""
    db.session.execute(update(Lead).values(touched_at=None))
    db.session.commit()
    return world


def widget_split(period):
    """How the SLA report reads the period's months of Widget."""
    return rolled.split(Layout.single(period.months(), products=["Widget"]),
                        {"Widget": "America/New_York"})


def roll_up(db, now=NOW) -> int:
    written = rollups.roll_up(now)
    db.session.commit()
    return written


def forget_rollups(db) -> None:
    db.session.execute(delete(SlaDay))
    db.session.execute(delete(SlaDayClock))
    db.session.commit()


def test_rolled_up_days_give_the_live_figures(db, settled, period):
    utc_period = reports.Period(period.start, period.end, "UTC")
    live = figures(reports.sla_report(period, NOW))
    live_speed = [speed_figures(reports.speed(p, NOW)) for p in (period, utc_period)]
    assert live[("Widget", "month", "2026-02")][-1]["first_attempt"] == (2, 0, 2)

    written = roll_up(db)

    # From the first activity (L6, Dec 31) to the day before NOW in New York, every day.
    first, last = date(2025, 12, 31), date(2026, 4, 9)
    assert written == (last - first).days + 1
    days = dict(db.session.execute(select(SlaDay.day, SlaDay.mqls)).all())
    assert days[date(2026, 2, 2)] == 1 and days[date(2026, 2, 3)] == 0
    # L5 qualified at 23:45 on 31 March in New York (1 April in UTC).
    assert days[date(2026, 3, 31)] == 1 and days[date(2026, 4, 1)] == 0
    layout_split = widget_split(period)
    # Every day of the quarter comes rolled up: nothing is measured from rows.
    assert layout_split is not None and len(layout_split.days) == 90
    assert layout_split.live == {}
    april = widget_split(reports.Period(date(2026, 4, 1), date(2026, 4, 30), "America/New_York"))
    # In April, only the time after the last rolled day (9 April, New York) is live.
    assert april.live == {"Widget": [(utc(2026, 4, 10, 4), utc(2026, 5, 1, 4))]}

    assert figures(reports.sla_report(period, NOW)) == live
    # A period in another zone: the edge hours of the rolled days are measured live.
    assert [speed_figures(reports.speed(p, NOW)) for p in (period, utc_period)] == live_speed


def test_a_second_pass_changes_nothing(db, settled):
    roll_up(db)
    before = db.session.execute(select(SlaDay.day, SlaDay.mqls, SlaDay.clocks)
                                .order_by(SlaDay.day)).all()
    assert roll_up(db) == 0
    after = db.session.execute(select(SlaDay.day, SlaDay.mqls, SlaDay.clocks)
                               .order_by(SlaDay.day)).all()
    assert after == before


def test_a_touched_day_is_read_live_until_the_next_pass(db, settled, period):
    roll_up(db)
    march = ("Widget", "month", "2026-03")
    before = figures(reports.sla_report(period, NOW))[march]
    # Sales accepts L5 now: its 31 March qualification becomes accepted.
    l5 = db.session.get(Lead, settled.leads["L5"].id)
    leads.accept(l5, actor_id=settled.users["R1"].id, at=NOW)
    db.session.commit()
    assert db.session.get(Lead, l5.id).touched_at is not None

    now_read = figures(reports.sla_report(period, NOW))
    assert now_read[march][1] == before[1] + 1
    stored = db.session.scalar(select(SlaDay.accepted).where(SlaDay.day == date(2026, 3, 31)))
    assert stored == 0  # not rolled up again yet: the report did not read it

    assert roll_up(db) >= 1
    assert db.session.scalar(select(SlaDay.accepted).where(SlaDay.day == date(2026, 3, 31))) == 1
    assert figures(reports.sla_report(period, NOW)) == now_read
    forget_rollups(db)
    assert figures(reports.sla_report(period, NOW)) == now_read


def test_each_qualification_counts_rolled_up_or_live(db, settled, period):
    feb = ("Widget", "month", "2026-02")
    before = figures(reports.sla_report(period, NOW))[feb]
    # L3 is qualified again later in February (after its rejection): a second delivery.
    db.session.add(LeadEvent(lead_id=settled.leads["L3"].id, kind="stage", from_stage="rejected",
                             to_stage="mql", at=utc(2026, 2, 20, 15)))
    db.session.commit()
    live = figures(reports.sla_report(period, NOW))
    assert live[feb][0] == before[0] + 1
    db.session.execute(update(Lead).values(touched_at=None))
    roll_up(db)
    assert figures(reports.sla_report(period, NOW)) == live


def test_a_day_with_a_clock_still_running_is_not_rolled_up(db, settled, period):
    lead = settled.leads["L7"]
    db.session.add(SlaClock(lead_id=lead.id, kind="attempt_limit", agreement_id=settled.agreement.id,
                            owner_id=lead.owner_id, started_at=utc(2026, 4, 8, 15),
                            due_at=NOW + timedelta(days=3), status="running"))
    db.session.commit()
    db.session.execute(update(Lead).values(touched_at=None))
    april = reports.Period(date(2026, 4, 1), date(2026, 4, 30), "America/New_York")
    live = figures(reports.sla_report(april, NOW))
    roll_up(db)
    days = set(db.session.scalars(select(SlaDay.day)))
    assert date(2026, 4, 7) in days and date(2026, 4, 9) in days
    assert date(2026, 4, 8) not in days
    assert figures(reports.sla_report(april, NOW)) == live
    # Once it is due, the day settles (the running clock counts as breached) and rolls up.
    later = NOW + timedelta(days=4)
    roll_up(db, later)
    assert date(2026, 4, 8) in set(db.session.scalars(select(SlaDay.day)))
    from_days = figures(reports.sla_report(april, later))
    forget_rollups(db)
    assert from_days == figures(reports.sla_report(april, later))


def test_days_of_another_zone_are_not_read(db, settled, period):
    live = figures(reports.sla_report(period, NOW))
    roll_up(db)
    db.session.execute(update(SlaDay).values(zone="Europe/London"))
    db.session.commit()
    assert widget_split(period) is None
    assert figures(reports.sla_report(period, NOW)) == live
    # The next pass replaces them with days of the product's zone.
    assert roll_up(db) > 90
    assert set(db.session.scalars(select(SlaDay.zone))) == {"America/New_York"}


def test_rolled_days_across_daylight_saving_time(db, settled):
    # 8 March 2026: New York's day is 23 hours long; a period ending and starting there.
    around = reports.Period(date(2026, 3, 1), date(2026, 3, 8), "America/New_York")
    after = reports.Period(date(2026, 3, 8), date(2026, 3, 31), "UTC")
    live = [figures(reports.sla_report(around, NOW)), speed_figures(reports.speed(after, NOW))]
    roll_up(db)
    assert [figures(reports.sla_report(around, NOW)),
            speed_figures(reports.speed(after, NOW))] == live


def test_the_roll_up_command(app, db, settled):
    result = app.test_cli_runner().invoke(args=["reports", "roll-up", "--at", NOW.isoformat()])
    assert result.exit_code == 0, result.output
    # 31 December 2025 to 9 April 2026 in New York, both kinds of days.
    assert result.output.strip() == "100 SLA day(s) and 100 cohort day(s) rolled up."
    bad = app.test_cli_runner().invoke(args=["reports", "roll-up", "--at", "yesterday"])
    assert bad.exit_code != 0 and "ISO-8601" in bad.output


def test_durations_survive_packing():
    values = [0, 5, 3600.4, 7199.6, 2 ** 31 - 1]
    assert list(rollups.unpack(rollups.pack(values))) == [0, 5, 3600, 7200, 2 ** 31 - 1]
    assert list(rollups.unpack(rollups.pack([3, 1], ordered=False))) == [3, 1]


def test_the_periodic_job_rolls_up_both_kinds_of_days(db, settled):
    from referral_app.jobs import cron
    from referral_app.jobs.reports import roll_up as job

    assert ("referral_app.jobs.reports.roll_up", "default", {"cron": "*/10 * * * *"}) \
        in cron.PERIODIC_JOBS
    assert job(NOW.isoformat()) == 200  # 100 SLA days and 100 cohort days
    assert job(NOW.isoformat()) == 0  # run twice: nothing new, nothing touched


def test_a_lead_is_not_re_stamped_within_the_readers_margin():
    from referral_app.models.lead import TOUCH_AGAIN_AFTER

    # A lead touched less than TOUCH_AGAIN_AFTER ago keeps its stamp; readers look back
    # IN_FLIGHT before each pass, so the change is still seen.
    assert TOUCH_AGAIN_AFTER < rollups.IN_FLIGHT


@pytest.mark.skipif(not is_postgres(), reason="statistics are PostgreSQL's")
def test_a_bulk_pass_leaves_the_planner_statistics_of_what_it_wrote(db, settled, monkeypatch):
    """A pass that writes many days (here: any) ANALYZEs its tables in its own transaction,
    so the reports' next plans know their size (CI's PostgreSQL runs no autovacuum)."""
    monkeypatch.setattr(common, "BULK_DAYS", 1)
    forget_rollups(db)
    assert roll_up(db) > 0
    for model in (SlaDay, SlaDayClock):
        stored = db.session.scalar(select(func.count()).select_from(model))
        estimated = db.session.scalar(text(
            f"SELECT reltuples FROM pg_class WHERE oid = '{model.__tablename__}'::regclass"))
        assert stored > 0 and estimated == stored
