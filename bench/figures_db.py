"""The database-heavy figures: the SLA sweep against a raw UPDATE, and the 1M-row CSV export."""
from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

from bench import load, pgload, scenario
from bench.figures import Ctx
from bench.report import Figure, missing, ms
from bench.server import Gunicorn

RAW_SWEEP = """UPDATE sla_clocks SET status = 'breached', breached_at = %s
                WHERE status = 'running' AND due_at < %s RETURNING id"""
EXPORT_RULE = "/rewards/payouts/<int:batch_id>.csv"
EXPORT_SQL = """COPY (SELECT r.payout_batch_id, r.id, r.referrer_id, u.email, u.name, p.slug,
                             r.referral_id, r.trigger, r.amount, r.currency, r.issued_at, r.status
                        FROM rewards r JOIN users u ON u.id = r.referrer_id
                        JOIN programs p ON p.id = r.program_id
                       WHERE r.payout_batch_id = 1 ORDER BY r.id) TO STDOUT (FORMAT csv)"""


def scratch_app(ctx: Ctx, schema: str):
    """The product's app with `schema` first on the search path (scratch copies, real rest)."""
    from referral_app.app import create_app

    config = dict(ctx.app.config)
    config["SQLALCHEMY_ENGINE_OPTIONS"] = pgload.engine_options(f"{schema},public")
    return create_app(config)


def _warm(db) -> None:
    """Open the pooled connection first: the raw UPDATE's connection is not timed either."""
    from sqlalchemy import text

    db.session.execute(text("SELECT 1"))
    db.session.commit()


def sweep(ctx: Ctx) -> list[Figure]:
    from referral_app.extensions import db
    from referral_app.services import sla

    clocks = min(ctx.leads, 1_000_000)
    scenario.sweep_tables(ctx.url, clocks)
    app = scratch_app(ctx, scenario.SWEEP)
    now = datetime.now(UTC)
    raw, mine, counts = [], [], set()
    for _ in range(1 if ctx.smoke else 3):
        scenario.reset_sweep(ctx.url, scenario.SWEEP_REF)
        with pgload.connect(ctx.url, scenario.SWEEP_REF) as conn:
            t0 = time.perf_counter()
            ids = conn.execute(RAW_SWEEP, (now, now)).fetchall()
            conn.commit()
            raw.append(time.perf_counter() - t0)
        counts.add(("raw", len(ids)))
        scenario.reset_sweep(ctx.url, scenario.SWEEP)
        with app.app_context():
            _warm(db)
            t0 = time.perf_counter()
            ids = sla.sweep(now)
            db.session.commit()
            mine.append(time.perf_counter() - t0)
            db.session.remove()
        counts.add(("sweep", len(ids)))
    scenario.reset_sweep(ctx.url, scenario.SWEEP)
    with app.app_context():
        _warm(db)
        t0 = time.perf_counter()
        ids = sla.sweep_and_enqueue(now)
        db.session.commit()  # after-commit: one RQ job per breach leaves now
        job = time.perf_counter() - t0
        db.session.remove()
        db.engine.dispose()
    reference, value = statistics.median(raw), statistics.median(mine)
    breached = sorted(counts)
    same = len({n for _, n in counts}) == 1
    note = (f"{clocks:,} running clocks, breached per run: {breached}; median of {len(mine)}; "
            f"scratch copies of sla_clocks on real leads")
    return [
        Figure("SLA sweep: services.sla.sweep(now)", ms(value), "≤ 1.2× raw UPDATE and < 5 s",
               f"raw UPDATE {ms(reference)}", f"{value / reference:.2f}×",
               value <= 1.2 * reference and value < 5 and same, note),
        Figure("SLA sweep job (sweep_and_enqueue)", ms(job), "< 5 s (same budget)",
               f"raw UPDATE {ms(reference)}", f"{job / reference:.1f}×", job < 5,
               f"{len(ids):,} breaches, handling jobs of up to 500 breaches enqueued after commit"),
    ]


def export(ctx: Ctx) -> list[Figure]:
    name, target = "CSV export: payout batch (1M rows)", "constant memory"
    if not ctx.route(EXPORT_RULE):
        return [missing(name, target, f"GET {EXPORT_RULE}")]
    big = min(1_000_000, max(ctx.leads, 10_000))
    big, small = scenario.export_tables(ctx.url, big, big // 10)
    name = f"CSV export: payout batch ({big:,} rows)"
    url = pgload.plain(ctx.url).replace("postgresql://", "postgresql+psycopg://")
    env = dict(ctx.product.env, DATABASE_URL=url + "?options=-csearch_path%3D"
               f"{scenario.EXPORT},public")
    server = Gunicorn("wsgi:app", env, 1, ctx.product.threads, "export").start("/healthz")
    try:
        cookie = load.sign_in(server.port, ctx.scenario.marketing_email, "bench-password")
        before = server.memory()[0]
        first = load.sequential(server.port, "/rewards/payouts/2.csv", cookie, 1, 600, warmup=0)
        mid = server.memory()[0]
        full = load.sequential(server.port, "/rewards/payouts/1.csv", cookie, 1, 900, warmup=0)
        after = server.memory()[0]
    finally:
        server.stop()
    with pgload.connect(ctx.url, f"{scenario.EXPORT},public") as conn:
        t0 = time.perf_counter()
        size = 0
        with conn.cursor().copy(EXPORT_SQL) as copy:
            for block in copy:
                size += len(block)
        reference = time.perf_counter() - t0
    grew = (after["VmHWM"] - mid["VmHWM"]) / 1024
    seconds = full.seconds[0]
    note = (f"{full.lines:,} lines, {full.bytes / 1e6:.0f} MB streamed; worker RSS before "
            f"{before['VmRSS'] / 1024:.0f} MB, peak after {small:,} rows "
            f"{mid['VmHWM'] / 1024:.0f} MB, after {big:,} rows {after['VmHWM'] / 1024:.0f} MB; "
            f"statuses {first.statuses | full.statuses}")
    return [Figure(name, f"{ms(seconds)}, peak RSS {after['VmHWM'] / 1024:.0f} MB",
                   f"{target} (10× rows: < +10 MB peak)",
                   f"COPY TO STDOUT {ms(reference)} ({size / 1e6:.0f} MB)",
                   f"{seconds / reference:.1f}× time, +{grew:.1f} MB peak",
                   grew < 10 and full.ok and full.lines > big, note)]


def roll_up(ctx: Ctx) -> list[Figure]:
    """The report days job (SLA days and cohort days): a first pass over the whole data set
    after a generation, then the pass cron runs every ten minutes, which the reports read."""
    from sqlalchemy import func, select

    from referral_app.extensions import db
    from referral_app.models import CohortDay, SlaDay
    from referral_app.services.reports import cohort_days, rollups

    out = []
    with ctx.app.app_context():
        for name, model, job in (("SLA days", SlaDay, rollups.roll_up),
                                 ("cohort days", CohortDay, cohort_days.roll_up)):
            if not db.session.scalar(select(func.count()).select_from(model)):
                t0 = time.perf_counter()
                days = job(datetime.now(UTC))
                db.session.commit()
                out.append(Figure(f"{name}, first pass (whole data set)",
                                  f"{time.perf_counter() - t0:.1f} s", "-",
                                  note=f"{days:,} days rolled up once after generation"))
        t0 = time.perf_counter()
        days = rollups.roll_up(datetime.now(UTC)) + cohort_days.roll_up(datetime.now(UTC))
        db.session.commit()
        took = time.perf_counter() - t0
        db.session.remove()
    out.append(Figure("report days, periodic pass", f"{took:.2f} s", "< 10 s (every 10 min)",
                      ok=took < 10, note=f"{days} day(s) written"))
    return out
