"""Every figure of the reports against the hand-computed world of conftest.py."""
from datetime import date
from decimal import Decimal

import pytest

from referral_app.services import reports
from referral_app.services.reports import business_time
from tests.reports.conftest import NOW


def approx(value, places=4):
    return pytest.approx(value, abs=10 ** -places)


def test_funnel_counts_the_cohort_by_stage_reached(world, period):
    f = reports.funnel(period)
    c = f.counts
    # L1 L2 L3 L4 L5 L7 L8: L6 and L9 were received before 1 Jan in New York.
    assert c.leads == 7
    # L2 skipped MQL and L8 jumped to won: both still reached every earlier stage.
    assert c.reached == {"mql": 6, "sql": 4, "opportunity": 3, "won": 2,
                         "lost": 1, "rejected": 1, "recycled": 1}
    assert c.entered == {"mql": 4, "sql": 3, "opportunity": 2, "won": 2,
                         "lost": 1, "rejected": 1, "recycled": 1}
    steps = {(a, b): r for a, b, _, _, r in f.steps()}
    assert steps[("leads", "mql")] == approx(6 / 7)
    assert steps[("mql", "sql")] == approx(4 / 6)
    assert steps[("sql", "opportunity")] == approx(3 / 4)
    assert steps[("opportunity", "won")] == approx(2 / 3)
    assert f.lead_to_opportunity == approx(3 / 7)
    assert f.opportunity_to_won == approx(2 / 3)
    assert c.won_value == Decimal("3000.00")
    assert f.average_won_value == Decimal("1500.00")
    # L1 and L8 bought; L2's purchase was refunded, L6 is outside the period.
    assert (f.purchases, f.purchase_revenue) == (2, Decimal("3000.00"))
    assert f.referral_to_purchase == approx(2 / 7)
    # Fixed rewards approved or issued: L1 100 + L8 100 (not the percent, pending or rejected).
    assert f.reward_cost == Decimal("200.00")
    assert f.cost_per_won == Decimal("100.00")


def test_funnel_for_one_program(world, period):
    f = reports.funnel(period, program=world.programs["Alpha"])
    assert f.counts.leads == 4
    assert f.counts.reached == {"mql": 4, "sql": 3, "opportunity": 3, "won": 2,
                                "lost": 1, "rejected": 1, "recycled": 0}
    assert reports.funnel(period, product="Gadget").counts.leads == 0


def test_the_zone_decides_the_month_boundary(world, period):
    utc_period = reports.Period(period.start, period.end, "UTC")
    # In UTC, L9 (Dec 31 22:00 New York) is in and L5 (Mar 31 23:30 New York) is out.
    in_utc = reports.funnel(utc_period).counts
    assert in_utc.leads == 7  # the same count, but L9 (never MQL) replaced L5 (MQL)
    assert in_utc.reached["mql"] == 5


def test_leaderboards_rank_by_rate_with_a_minimum_volume(world, period):
    b = reports.leaderboards(period, min_volume=1)
    top = b.board("programs", "sql", "top")
    assert [(e.name, e.leads, e.count) for e in top] == [("Alpha", 4, 3), ("Beta", 3, 1)]
    assert top[0].rate == approx(0.75) and top[1].rate == approx(1 / 3)
    assert [e.name for e in b.board("programs", "sql", "bottom")] == ["Beta", "Alpha"]
    reps = b.board("reps", "won", "top")
    assert [(e.name, e.leads, e.count) for e in reps] == [("R1 Person", 4, 2), ("R2 Person", 3, 0)]
    assert b.board("reps", "opportunity", "top")[0].rate == approx(0.75)
    assert len(b.lists()) == 12
    # The boards add up to the funnel.
    assert sum(e.count for e in b.board("programs", "won", "top")) == 2
    strict = reports.leaderboards(period, min_volume=4)
    assert [e.name for e in strict.board("programs", "won", "bottom")] == ["Alpha"]
    assert strict.unranked == {"programs": 1, "reps": 1}


def test_sla_marketing_side_per_month(world, period):
    report = reports.sla_report(period, NOW)
    (widget,) = report.products
    assert widget.timezone == "America/New_York"
    jan, feb, mar = widget.months
    # L2 went from new straight to SQL: sales accepted it, marketing never qualified it.
    assert (jan.key, jan.mqls, jan.accepted, jan.rejected) == ("2026-01", 1, 1, 0)
    assert (feb.mqls, feb.accepted, feb.rejected) == (2, 1, 1)
    # L4 again after recycling and L5 at 23:45 on 31 March, New York time.
    assert (mar.mqls, mar.accepted) == (2, 1)
    assert jan.target == 10 and jan.attainment == approx(0.1)
    assert feb.acceptance_rate == approx(0.5) and feb.quality_met is False
    assert jan.quality_met is True and jan.volume_met is False
    # The period's deliveries are its months' (L4 was delivered twice, in Feb and in Mar).
    total = widget.total
    assert (total.mqls, total.accepted, total.rejected, total.target) == (5, 3, 1, 30)
    assert total.acceptance_rate == approx(0.6) and total.quality_met is True


def test_sla_sales_side_per_month(world, period):
    (widget,) = reports.sla_report(period, NOW).products
    jan, feb, mar = widget.months
    fa = [m.clocks["first_attempt"] for m in (jan, feb, mar, widget.total)]
    assert [(s.clocks, s.met, s.breached) for s in fa] == [(3, 3, 0), (2, 0, 2), (2, 1, 1), (7, 4, 3)]
    assert fa[3].compliance == approx(4 / 7)
    # Business hours: Jan 0.5, 2, 0.5; Feb 8, 32; Mar 3 (L5 not attempted yet).
    assert jan.median_seconds / 3600 == approx(0.5) and jan.p90_seconds / 3600 == approx(1.7)
    assert feb.median_seconds / 3600 == approx(20) and feb.p90_seconds / 3600 == approx(29.6)
    assert mar.median_seconds / 3600 == approx(3) and mar.timed == 1
    assert widget.total.median_seconds / 3600 == approx(2.5)
    assert widget.total.p90_seconds / 3600 == approx(20)
    limit = widget.total.clocks["attempt_limit"]
    assert (limit.clocks, limit.met, limit.breached, limit.compliance) == (2, 1, 1, 0.5)
    assert widget.total.clocks["decision"].clocks == 1  # the cancelled one is not counted


def test_sla_trend_and_breaches(world, period):
    report = reports.sla_report(period, NOW)
    (widget,) = report.products
    assert [m.key for m in widget.trend] == ["2025-10", "2025-11", "2025-12", "2026-01",
                                             "2026-02", "2026-03"]
    dec = widget.trend[2]
    assert (dec.mqls, dec.accepted) == (1, 1)
    # L6 met and L9 (Dec 31 22:00 New York) breached; durations only for the period's months.
    assert (dec.clocks["first_attempt"].met, dec.clocks["first_attempt"].breached) == (1, 1)
    assert dec.median_seconds is None
    assert widget.trend[3] is widget.months[0]
    # R2: L3 and L4 first attempts and L4's attempt window; R1: L5 overdue, not yet swept.
    assert [(b.name, b.by_kind, b.total) for b in report.breaches] == [
        ("R2 Person", {"first_attempt": 2, "attempt_limit": 1}, 3),
        ("R1 Person", {"first_attempt": 1}, 1)]


def test_sla_period_inside_a_month_prorates_the_target(world):
    part = reports.Period(date(2026, 1, 5), date(2026, 1, 20), "America/New_York")
    (widget,) = reports.sla_report(part, NOW).products
    (jan,) = widget.months
    assert jan.partial and jan.target == round(10 * 16 / 31)
    assert jan.mqls == 1 and jan.clocks["first_attempt"].clocks == 3


def test_speed_bands(world, period):
    s = reports.speed(period, NOW)
    assert [(b.leads, b.won) for b in s.bands] == [(2, 1), (2, 1), (1, 0), (1, 0), (1, 0)]
    assert s.bands[0].conversion == approx(0.5)
    assert s.median_seconds / 3600 == approx(2.5)
    alpha = reports.speed(period, NOW, program=world.programs["Alpha"])
    assert [(b.leads, b.won) for b in alpha.bands] == [(1, 1), (2, 1), (1, 0), (0, 0), (0, 0)]


def test_business_hours_are_the_same_in_sql_and_in_python(world, period, monkeypatch, db):
    sql = reports.sla_report(period, NOW)
    monkeypatch.setattr(business_time, "SQL_ENABLED", False)
    python = reports.sla_report(period, NOW)
    for a, b in zip(sql.products[0].months + sql.products[0].trend,
                    python.products[0].months + python.products[0].trend, strict=True):
        assert (a.timed, a.median_seconds, a.p90_seconds) == pytest.approx(
            (b.timed, b.median_seconds, b.p90_seconds))
    bands = reports.speed(period, NOW).bands
    assert [(b.leads, b.won) for b in bands] == [(2, 1), (2, 1), (1, 0), (1, 0), (1, 0)]


def test_rejection_reasons_with_examples(world, period):
    r = reports.rejections(period)
    assert [(x.program, x.kind, x.reason, x.count, x.share) for x in r.reasons] == [
        ("Alpha", "rejected", "No budget", 1, 1.0), ("Alpha", "lost", "Price", 1, 1.0)]
    (example,) = r.of("rejected")[0].examples
    assert example.lead_id == world.leads["L3"].id and example.note == "Too small"


def test_referrers_participation_and_best(world, period):
    r = reports.referrers(period)
    part = {p.kind: (p.referrers, p.active, p.referrals) for p in r.participation}
    assert part == {"customer": (3, 2, 5), "partner": (1, 1, 2), "all": (4, 3, 7)}
    everyone = r.participation[-1]
    assert everyone.share_active == approx(0.75) and everyone.per_active == approx(7 / 3)
    c1 = r.best["customer"][0]
    assert (c1.name, c1.referrals, c1.sqls, c1.won, c1.won_value) == (
        "C1 Person", 4, 3, 2, Decimal("3000.00"))
    assert [x.name for x in r.best["customer"]] == ["C1 Person", "C2 Person"]
    assert [(x.name, x.referrals, x.sqls) for x in r.best["partner"]] == [("P1 Person", 2, 1)]
    assert [(c.program, c.visits, c.submissions, c.click_to_lead) for c in r.clicks] == [
        ("Alpha", 10, 3, 0.3), ("Beta", 5, 2, 0.4)]


def test_a_reps_own_numbers(world, period):
    mine = reports.my_numbers(period, world.users["R1"].id, NOW)
    assert mine.counts.leads == 4 and mine.counts.count("won") == 2
    assert mine.conversion("sql") == approx(0.75)
    fa = mine.clocks["first_attempt"]
    assert (fa.clocks, fa.met, fa.breached) == (4, 3, 1)
    assert mine.median_seconds / 3600 == approx(2) and mine.p90_seconds / 3600 == approx(2.8)
    assert mine.breaches == 1
    assert [c.lead_id for c in mine.recent_breaches] == [world.leads["L5"].id]
