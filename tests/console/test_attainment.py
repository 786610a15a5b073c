"""The marketing side of the SLA: month boundaries in the calendar's zone, pace, results."""
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from referral_app.jobs.attainment import track
from referral_app.models import Attempt, LeadEvent, MonthlyAttainment, Notification, SlaClock
from referral_app.services import attainment
from referral_app.services.reports import Period, sla_report
from tests import factories

LA = "America/Los_Angeles"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def widget(db):
    calendar = factories.calendar(timezone=LA)
    agreement = factories.agreement(product="Widget", cal=calendar, monthly_qualified_leads=62,
                                    min_acceptance_rate=Decimal("0.6"),
                                    effective_at=utc(2025, 12, 1))
    program = factories.program(product="Widget")
    db.session.commit()
    return agreement, program


def mql(program, at: datetime, accepted_at: datetime | None = None):
    lead = factories.lead(program, stage="mql", received_at=at)
    if accepted_at:
        factories.db.session.add(LeadEvent(lead_id=lead.id, from_stage="mql", to_stage="sql",
                                           at=accepted_at))
        lead.stage = "sql"
    return lead


def test_an_mql_at_2330_on_the_last_day_counts_for_that_month_in_the_zone(db, widget):
    agreement, program = widget
    mql(program, utc(2026, 2, 1, 7, 30))   # Jan 31, 23:30 in Los Angeles
    mql(program, utc(2026, 2, 1, 8, 30))   # Feb 1, 00:30 in Los Angeles
    mql(program, utc(2026, 1, 1, 7, 59))   # Dec 31, 23:59 in Los Angeles
    db.session.commit()
    now = utc(2026, 2, 15)
    assert attainment.marketing_side(agreement, date(2026, 1, 1), now).delivered == 1
    assert attainment.marketing_side(agreement, date(2026, 2, 1), now).delivered == 1
    assert attainment.marketing_side(agreement, date(2025, 12, 1), now).delivered == 1
    assert attainment.month_of(utc(2026, 2, 1, 7, 30), attainment.zone_of(agreement)) == \
        date(2026, 1, 1)


def _january(program, db):
    """16 MQLs in the first ten days of January (LA), 10 of them accepted, plus noise."""
    start = utc(2026, 1, 1, 8)  # Jan 1, 00:00 in Los Angeles
    for n in range(16):
        at = start + timedelta(hours=14 * n + 1)
        mql(program, at, accepted_at=at + timedelta(hours=3) if n < 10 else None)
    mql(program, utc(2026, 1, 1, 7))  # Dec 31 in Los Angeles: not January
    direct = factories.lead(program, stage="sql", received_at=utc(2026, 1, 3))  # never an MQL
    assert direct.stage == "sql"
    twice = mql(program, utc(2026, 1, 2))
    # Recycled and qualified again: a second delivery, as the SLA report counts it (each
    # qualification is one; the report's days then add up to its months).
    db.session.add(LeadEvent(lead_id=twice.id, from_stage="recycled", to_stage="mql",
                             at=utc(2026, 1, 5)))
    other = factories.program(product="Gadget")
    mql(other, utc(2026, 1, 4))
    db.session.commit()


def test_pace_figures_on_a_known_data_set(db, widget):
    agreement, program = widget
    _january(program, db)
    with time_machine.travel(utc(2026, 1, 11, 8), tick=False):  # Jan 11, 00:00 in LA
        side = attainment.marketing_side(agreement)
    assert side.month == date(2026, 1, 1)
    assert (side.delivered, side.accepted, side.target) == (18, 10, 62)
    assert side.days_in_month == 31 and side.days_gone == pytest.approx(10)
    assert side.prorated_target == pytest.approx(20)
    assert side.pace == pytest.approx(18 / 20)
    assert side.projected == round(18 * 31 / 10) == 56
    assert side.acceptance_rate == Decimal("0.5556")
    assert side.behind is True and side.closed is False
    assert side.pace_percent == 90


@pytest.mark.parametrize("delivered, days_gone, percent", [
    (36, 9.001, 99),   # 36 of 36.004 due: behind, so not "100%"
    (36, 9.0, 100),    # exactly on pace
    (37, 9.0, 103),    # ahead: rounded as usual
    (0, 0.0, None),    # nothing due yet
])
def test_pace_never_reads_on_target_while_behind(delivered, days_gone, percent):
    side = attainment.MarketingSide(product="Widget", month=date(2026, 1, 1), target=124,
                                    delivered=delivered, accepted=0,
                                    min_acceptance_rate=Decimal("0.6"), days_in_month=31,
                                    days_gone=days_gone, closed=False)
    assert side.pace_percent == percent


def test_the_hourly_job_records_warns_once_a_day_and_closes_the_month(db, widget, make_user):
    agreement, program = widget
    maya, mo = make_user("marketing"), make_user("marketing")
    make_user("sales_manager")
    _january(program, db)

    with time_machine.travel(utc(2026, 1, 11, 9), tick=False):
        assert track() == 1
        track()  # the job may run twice: nothing doubles
    rows = {r.month: r for r in db.session.scalars(db.select(MonthlyAttainment))}
    row = rows[date(2026, 1, 1)]
    assert (row.mqls, row.target, row.accepted, row.result) == (18, 62, 10, None)
    # December closed already (the agreement was in force then): one MQL, missed.
    assert (rows[date(2025, 12, 1)].mqls, rows[date(2025, 12, 1)].result) == (1, "missed")
    warnings = db.session.scalars(db.select(Notification).where(
        Notification.kind == "attainment.behind")).all()
    assert sorted(n.user_id for n in warnings) == sorted([maya.id, mo.id])
    assert "18 of 62" in warnings[0].subject

    with time_machine.travel(utc(2026, 1, 12, 9), tick=False):
        track()
    assert db.session.scalar(db.select(db.func.count(Notification.id))) == 4  # a new local day

    with time_machine.travel(utc(2026, 2, 1, 7, 30), tick=False):  # Jan 31, 23:30 in LA
        mql(program, utc(2026, 2, 1, 7, 30))
        db.session.commit()
        track()
    db.session.expire_all()
    january = db.session.scalar(db.select(MonthlyAttainment).where(
        MonthlyAttainment.month == date(2026, 1, 1)))
    assert january.result is None and january.mqls == 19  # not closed yet in Los Angeles

    with time_machine.travel(utc(2026, 2, 1, 8, 5), tick=False):  # Feb 1, 00:05 in LA
        track()
        track()
    db.session.expire_all()
    rows = {r.month: r for r in db.session.scalars(db.select(MonthlyAttainment))}
    assert rows[date(2026, 1, 1)].result == "missed" and rows[date(2026, 1, 1)].mqls == 19
    assert rows[date(2026, 2, 1)].result is None and rows[date(2026, 2, 1)].mqls == 0
    assert rows[date(2026, 1, 1)].agreement_id == agreement.id


def test_result_is_met_only_with_quantity_and_quality(db, widget):
    agreement, program = widget
    agreement.monthly_qualified_leads = 3
    for n in range(3):
        mql(program, utc(2026, 1, 5 + n), accepted_at=utc(2026, 1, 9) if n < 2 else None)
    db.session.commit()
    side = attainment.marketing_side(agreement, date(2026, 1, 1), utc(2026, 3, 1))
    assert side.closed and side.acceptance_rate == Decimal("0.6667") and side.result == "met"
    agreement.min_acceptance_rate = Decimal("0.7")
    assert attainment.marketing_side(agreement, date(2026, 1, 1), utc(2026, 3, 1)).result == "missed"


def test_no_result_for_months_before_the_agreement_existed(db, widget):
    agreement, _ = widget
    agreement.effective_at = utc(2026, 2, 10)
    db.session.commit()
    with time_machine.travel(utc(2026, 2, 11), tick=False):
        track()
    assert [r.month for r in db.session.scalars(db.select(MonthlyAttainment))] == [date(2026, 2, 1)]


def test_sales_side_compliance_and_median_time_to_first_attempt(db):
    calendar = factories.calendar(timezone="America/New_York")
    agreement = factories.agreement(product="Widget", cal=calendar, first_attempt_clock="business")
    program = factories.program(product="Widget")
    rep = factories.user("sales")
    # Monday 2 March 2026, 16:00 New York = 21:00 UTC; business hours 09:00-17:00.
    assigned = utc(2026, 3, 2, 21)
    waits = [timedelta(minutes=30), utc(2026, 3, 3, 15) - assigned, timedelta(hours=5)]
    for n, wait in enumerate(waits):
        lead = factories.lead(program, owner=rep, received_at=assigned)
        db.session.add(Attempt(lead_id=lead.id, user_id=rep.id, channel="call",
                               outcome="no_answer", at=assigned + wait))
        db.session.add(Attempt(lead_id=lead.id, user_id=rep.id, channel="call",
                               outcome="no_answer", at=assigned + wait + timedelta(days=1)))
        # As sla.satisfy records it: the first attempt's time, late or not.
        db.session.add(SlaClock(lead_id=lead.id, kind="first_attempt", agreement_id=agreement.id,
                                status="met" if n < 2 else "breached", started_at=assigned,
                                due_at=assigned + timedelta(hours=5), met_at=assigned + wait,
                                owner_id=rep.id))
    # Never attempted and past due, not swept yet: breached already, as the SLA report counts.
    late = factories.lead(program, owner=rep, received_at=assigned)
    db.session.add(SlaClock(lead_id=late.id, kind="first_attempt", agreement_id=agreement.id,
                            status="running", started_at=assigned, owner_id=rep.id,
                            due_at=assigned + timedelta(hours=5)))
    db.session.commit()
    side = attainment.sales_side(agreement, date(2026, 3, 1), utc(2026, 3, 20))
    first = side["compliance"]["first_attempt"]
    assert (first["met"], first["breached"]) == (2, 2) and first["rate"] == pytest.approx(0.5)
    assert side["compliance"]["attempt_limit"]["rate"] is None
    assert side["attempted"] == 3
    # Working time: 30 min; Mon 16:00 → Tue 10:00 = 2 h; 5 h wall clock from 16:00 = 1 h open.
    assert side["median_first_attempt"] == timedelta(hours=1)


def test_the_agreement_page_and_the_sla_report_count_the_same_mqls(db, widget):
    """One definition of "MQLs delivered" and "accepted" for the job, the page and the report."""
    from referral_app.services import reports

    agreement, program = widget
    _january(program, db)
    now = utc(2026, 2, 15)
    side = attainment.marketing_side(agreement, date(2026, 1, 1), now)
    period = reports.Period(date(2026, 1, 1), date(2026, 1, 31), LA)
    (report,) = reports.sla_report(period, now, product="Widget").products
    (january,) = report.months
    assert (january.mqls, january.accepted) == (side.delivered, side.accepted) == (18, 10)


def test_current_rows_read_every_product_at_once_with_the_same_figures(db, widget):
    """The agreement page reads all products' months in one SLA report: each row equals that
    product's own month_figures, zones apart (Widget in Los Angeles, Gadget in Tokyo, where
    the next month has begun)."""
    agreement, program = widget
    _january(program, db)  # Widget's MQLs, and one for a Gadget program
    tokyo = factories.agreement(product="Gadget", cal=factories.calendar(
        name="tokyo", timezone="Asia/Tokyo"), effective_at=utc(2025, 12, 1))
    gadget = factories.program(product="Gadget", slug="gadget-2")
    mql(gadget, utc(2026, 1, 31, 16))  # Feb 1, 01:00 in Tokyo
    db.session.commit()
    now = utc(2026, 1, 31, 18)  # Jan 31 in Los Angeles, Feb 1 in Tokyo
    rows = attainment.current_rows([agreement, tokyo], now)
    assert rows[agreement.id] == attainment.month_figures(agreement, date(2026, 1, 1), now)
    assert rows[tokyo.id] == attainment.month_figures(tokyo, date(2026, 2, 1), now)
    assert rows[agreement.id].mqls == 18 and rows[tokyo.id].mqls == 1
    side, _ = attainment.sides(tokyo, now=now, row=rows[tokyo.id])
    assert (side.month, side.delivered) == (date(2026, 2, 1), 1)
    # The SLA report over February, while Los Angeles is still in January: each product's
    # trend ends with its own current month (it was one list for all, and a 500).
    report = sla_report(Period(date(2026, 2, 1), date(2026, 2, 28), LA), now)
    trends = {p.product: [row.key for row in p.trend] for p in report.products}
    assert trends["Widget"][-1] == "2026-01" and trends["Gadget"][-1] == "2026-02"


def test_the_hourly_job_closes_each_products_month_in_its_own_zone(db, widget):
    """At 18:00 UTC on 31 January Tokyo is in February: Gadget's January is closed with its
    result, while Widget (Los Angeles) is still counting January."""
    agreement, _ = widget
    factories.agreement(product="Gadget", cal=factories.calendar(name="tokyo",
                                                                 timezone="Asia/Tokyo"),
                        effective_at=utc(2025, 12, 1))
    db.session.commit()
    now = utc(2026, 1, 31, 18)
    with time_machine.travel(now, tick=False):
        sides = attainment.track(now)
    assert {(s.product, s.month) for s in sides} == {("Widget", date(2026, 1, 1)),
                                                     ("Gadget", date(2026, 2, 1))}
    rows = {(r.product, r.month): r.result for r in db.session.query(MonthlyAttainment)}
    assert rows[("Gadget", date(2026, 1, 1))] == "missed"  # closed: no MQLs in January
    assert rows[("Gadget", date(2026, 2, 1))] is None and rows[("Widget", date(2026, 1, 1))] is None
    assert ("Widget", date(2026, 2, 1)) not in rows
