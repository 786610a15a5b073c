"""Each figure of the benchmark: measure the real endpoint or function, and its reference."""
from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from bench import load, pgload, scenario
from bench.report import Figure, missing, ms
from bench.scenario import INTAKE_REFERRER, Scenario
from bench.server import CpuMeter, Gunicorn

INTAKE_BODY = ('{"program": "bench-intake", "referee": {"name": "Load %d %d", '
               '"email": "load-%s-%d-%d@loadtest-co.example", "company": "Loadtest Co", '
               '"title": "Head of Sales", "country": "US"}, "note": "", "consent": true}')
FUNNEL_SQL = """SELECT e.to_stage, count(DISTINCT e.lead_id) FROM lead_events e
                 WHERE e.kind = 'stage' AND e.at >= %s AND e.at < %s GROUP BY e.to_stage"""


@dataclass
class Ctx:
    url: str
    app: object  # the in-process Flask app on the bench database
    scenario: Scenario
    product: Gunicorn
    bare: Gunicorn
    leads: int
    smoke: bool
    seconds: float  # duration of each concurrent load
    rss_seen: float = 0.0  # MB: the largest product worker seen (workers may be restarted)

    @property
    def database(self) -> str:
        return self.url.rsplit("/", 1)[-1].split("?")[0]

    def note_rss(self) -> None:
        sizes = [m.get("VmRSS", 0) / 1024 for m in self.product.memory()]
        self.rss_seen = max([self.rss_seen, *sizes])

    def route(self, rule: str, method: str = "GET") -> bool:
        return any(r.rule == rule and method in r.methods for r in self.app.url_map.iter_rules())

    def bearer(self, token: str) -> dict:
        return {"Authorization": f"Bearer {token}"}


def cpu_per_request(ctx: Ctx, method: str, path: str, headers: dict, body=None,
                    count: int = 20) -> float:
    """Python CPU seconds per request, in-process (Flask test client): the throughput ceiling
    of one core is 1 / this, whatever else the machine is doing."""
    client = ctx.app.test_client()
    for i in range(count + 2):
        if i == 2:
            started = time.process_time()
        data = body % (9, i, ctx.scenario.run_id + "c", 9, i) if body else None
        response = client.open(path, method=method, data=data, headers=headers)
        assert response.status_code < 300, response.data[:300]
    return (time.process_time() - started) / count


def intake(ctx: Ctx) -> list[Figure]:
    name, target = "intake POST /api/v1/referrals, 32 conns", "≥ 1,000/s, ≥ 0.3× bare, 0 errors"
    if not ctx.route("/api/v1/referrals", "POST"):
        return [missing(name, target, "POST /api/v1/referrals"),
                missing("intake latency p50 / p99", "p99 < 50 ms", "POST /api/v1/referrals")]
    headers = {"Content-Type": "application/json"}
    auth = dict(headers, **ctx.bearer(ctx.scenario.referrer_token))
    run = ctx.scenario.run_id
    # Warm-up as loaded as the turns: with 8 connections a worker started only a few of its
    # threads (or, once, none: its mappers and pool too), and the rest started in the first
    # turn, each connecting to the writer there (that turn's p99.9 ~250 ms).
    load.concurrent(ctx.product.port, "POST", "/api/v1/referrals", auth, INTAKE_BODY, run + "w",
                    connections=32, seconds=2)
    # The bare endpoint and intake in turns, three times (once for --smoke): a shared
    # machine's speed changes within minutes, and each turn's pair is measured back to back.
    # The turn with the median intake throughput is reported, every turn in the note.
    turns = [_intake_turn(ctx, headers, auth, f"{run}r{n}")
             for n in range(1 if ctx.smoke else 3)]
    bare, bare_cpu, real, real_cpu = sorted(turns, key=lambda t: t.real.rps)[len(turns) // 2]
    requests, errors = sum(t.real.requests for t in turns), sum(t.real.errors for t in turns)
    with pgload.connect(ctx.url, autocommit=True) as conn:
        stored = conn.execute("SELECT count(*) FROM referrals WHERE program_id = %s AND "
                              "referee_email LIKE %s", (ctx.scenario.program_id,
                                                        f"load-{run}r%")).fetchone()[0]
    ratio = real.rps / bare.rps if bare.rps else 0
    keyed = _keyed(ctx, auth, f"{run}k", real)
    ctx.note_rss()
    cpu = cpu_per_request(ctx, "POST", "/api/v1/referrals", auth, INTAKE_BODY)
    fixed, each = writer_cost(ctx)
    scenario.forget_intake(ctx.url, ctx.scenario)
    note = (f"{cpu * 1000:.1f} ms Python CPU per referral in-process (one core's ceiling "
            f"{1 / cpu:,.0f}/s); the group commit's writer, in-process: {fixed * 1000:.1f} ms "
            f"a group + {each * 1000:.2f} ms a referral; "
            f"turns (intake/s, bare/s, p99 ms): " + ", ".join(
                f"{t.real.rps:,.0f}/{t.bare.rps:,.0f} ({t.real.rps / t.bare.rps:.2f}×, "
                f"{t.real.p99_ms:.0f})" for t in turns if t.bare.rps) + "; "
            f"{requests:,} requests in {sum(t.real.seconds for t in turns):.1f} s, {errors} errors"
            f"{' ' + str([t.real.statuses for t in turns]) if errors else ''}, "
            f"{stored:,} referrals stored; load tool {real.tool}; gunicorn {ctx.product.config}")
    return [
        Figure(name, f"{real.rps:,.0f} req/s", target, f"bare {bare.rps:,.0f} req/s",
               f"{ratio:.2f}×", real.rps >= 1000 and ratio >= 0.3 and errors == 0, note),
        Figure("intake latency p50 / p99", f"{real.p50_ms:.1f} / {real.p99_ms:.1f} ms",
               "p99 < 50 ms", f"bare {bare.p50_ms:.1f} / {bare.p99_ms:.1f} ms",
               f"{real.p99_ms / bare.p99_ms:.1f}× (p99)" if bare.p99_ms else "",
               real.p99_ms < 50 and errors == 0,
               f"{real.shape}; bare {bare.shape}" if real.shape else ""),
        cpu_budget(real_cpu, bare_cpu),
        keyed,
    ]


def _keyed(ctx: Ctx, auth: dict, run: str, unkeyed: load.LoadResult) -> Figure:
    """Intake as integrations that retry safely send it, each request with an
    Idempotency-Key: no target of its own, against the median unkeyed turn."""
    keyed = load.concurrent(ctx.product.port, "POST", "/api/v1/referrals", auth, INTAKE_BODY,
                            run, seconds=ctx.seconds, keyed=True)
    with pgload.connect(ctx.url, autocommit=True) as conn:
        stored = conn.execute("SELECT count(*) FROM idempotency_records WHERE key LIKE %s",
                              (f"{run}-%",)).fetchone()[0]
    note = (f"p50 {keyed.p50_ms:.1f} ms, p99 {keyed.p99_ms:.1f} ms; {keyed.requests:,} "
            f"requests, {keyed.errors} errors"
            f"{' ' + str(keyed.statuses) if keyed.errors else ''}, {stored:,} answers stored "
            f"under their keys")
    return Figure("intake with an Idempotency-Key each, 32 conns", f"{keyed.rps:,.0f} req/s",
                  "- (0 errors)", f"without keys {unkeyed.rps:,.0f} req/s",
                  f"{keyed.rps / unkeyed.rps:.2f}×" if unkeyed.rps else "",
                  None if keyed.errors == 0 else False, note)


class Turn(NamedTuple):
    """The bare endpoint's load and intake's, one after the other, with their CPU splits."""
    bare: load.LoadResult
    bare_cpu: dict
    real: load.LoadResult
    real_cpu: dict


def _intake_turn(ctx: Ctx, headers: dict, auth: dict, run: str) -> Turn:
    meter = CpuMeter(ctx.bare, ctx.database)
    bare = load.concurrent(ctx.bare.port, "POST", "/echo", headers, INTAKE_BODY, "bare",
                           seconds=ctx.seconds)
    bare_cpu = meter.per_request(bare.requests)
    meter = CpuMeter(ctx.product, ctx.database)
    real = load.concurrent(ctx.product.port, "POST", "/api/v1/referrals", auth, INTAKE_BODY, run,
                           seconds=ctx.seconds)
    return Turn(bare, bare_cpu, real, meter.per_request(real.requests))


def writer_cost(ctx: Ctx, small: int = 2, large: int = 16, rounds: int = 15):
    """(CPU seconds a group costs whatever its size, CPU seconds each referral adds) of
    intake_batch.submit_many and its commit, in-process: groups of `small` and `large`
    submissions, the median of `rounds` each, fitted to a line."""
    from sqlalchemy import select

    from referral_app.extensions import db
    from referral_app.models import User
    from referral_app.models.base import utcnow
    from referral_app.services import intake_batch

    referee = {"name": "Writer Load", "company": "Loadtest Co", "title": "Head of Sales",
               "country": "US"}
    with ctx.app.app_context():
        referrer_id = db.session.scalar(select(User.id).where(User.email == INTAKE_REFERRER))
    counter = iter(range(10**9))

    def group(size: int) -> float:
        subs = [intake_batch.Submission(ctx.scenario.program_id, dict(
            referee, email=f"load-{ctx.scenario.run_id}g-{next(counter)}@loadtest-co.example"),
            source="api", referrer_id=referrer_id, consent=True, ip="127.0.0.1")
            for _ in range(size)]
        with ctx.app.app_context():
            started = time.thread_time()
            intake_batch.submit_many(subs, utcnow())
            db.session.commit()
            return time.thread_time() - started

    medians = {}
    for size in (small, large):
        group(size)  # warm-up
        medians[size] = statistics.median(group(size) for _ in range(rounds))
    each = (medians[large] - medians[small]) / (large - small)
    return medians[small] - small * each, each


def cpu_budget(real: dict[str, float], bare: dict[str, float]) -> Figure:
    """Where a referral's CPU goes under load, against what the throughput target allows."""
    cores = os.cpu_count() or 1
    total, bare_total = sum(real.values()), sum(bare.values())
    parts = ", ".join(f"{name} {value:.2f} ms" for name, value in real.items())
    note = (f"{parts}; at {total:.1f} ms of CPU per referral {cores} cores serve at most "
            f"{cores * 1000 / total:,.0f}/s whatever the concurrency; bare endpoint: " +
            ", ".join(f"{name} {value:.2f} ms" for name, value in bare.items()))
    return Figure("intake CPU per referral, all processes", f"{total:.1f} ms",
                  f"≤ {cores} ms (1,000/s on {cores} cores)", f"bare {bare_total:.2f} ms",
                  f"{total / bare_total:.1f}×" if bare_total else "", None, note)


def _bare_floor(ctx: Ctx, count: int) -> load.Timings:
    return load.sequential(ctx.bare.port, "/echo", {}, count, 30)


def queue(ctx: Ctx) -> list[Figure]:
    count = 30 if ctx.smoke else 200
    floor = _bare_floor(ctx, count)
    out = []
    s = ctx.scenario
    who = f"rep #{s.rep_id} with {s.rep_open_leads:,} open leads"
    pages = [("queue API GET /api/v1/queue p95", "/api/v1/queue", "/api/v1/queue",
              lambda: ctx.bearer(s.rep_token)),
             ("queue page GET /queue/ p95", "/queue/", "/queue/",
              lambda: load.sign_in(ctx.product.port, s.rep_email, "bench-password"))]
    for name, rule, path, headers in pages:
        if not ctx.route(rule):
            out.append(missing(name, "< 30 ms", f"GET {rule}"))
            continue
        sent = headers()
        t = load.sequential(ctx.product.port, path, sent, count, 60, warmup=3)
        cpu = cpu_per_request(ctx, "GET", path, sent) if "Authorization" in sent else None
        p95 = t.pct(95)
        out.append(Figure(name, ms(p95), "< 30 ms", f"bare GET {ms(floor.pct(95))}",
                          f"{p95 / floor.pct(95):.1f}×", p95 < 0.030 and t.ok,
                          f"{who}; {len(t.seconds)} requests, p50 {ms(t.pct(50))}, "
                          + (f"{cpu * 1000:.1f} ms Python CPU per request in-process, " if cpu
                             else "") + f"statuses {t.statuses}"))
    ctx.note_rss()
    return out


def reports(ctx: Ctx) -> list[Figure]:
    today = datetime.now(UTC).date()
    start = today - timedelta(days=730)
    query = f"from={start.isoformat()}&to={today.isoformat()}"
    with pgload.connect(ctx.url, autocommit=True) as conn:
        ref = []
        for _ in range(1 if ctx.smoke else 3):
            t0 = time.perf_counter()
            conn.execute(FUNNEL_SQL, (start, today + timedelta(days=1))).fetchall()
            ref.append(time.perf_counter() - t0)
    reference = statistics.median(ref)
    s = ctx.scenario
    api = ctx.bearer(s.marketing_token)
    items = [(f"report {n} (API, 2 years)", f"/api/v1/reports/{n}", f"/api/v1/reports/{n}?{query}",
              lambda: api, 1.0) for n in ("funnel", "leaderboards", "sla")]
    signed_in = {}

    def page_headers():  # one session for every page
        if not signed_in:
            signed_in.update(load.sign_in(ctx.product.port, s.marketing_email, "bench-password"))
        return signed_in

    items += [(f"report {n} (page, 2 years)", f"/reports/{n}", f"/reports/{n}?{query}",
               page_headers, 1.0) for n in ("speed", "rejections", "referrers")]
    items.append(("interlock pack page (2 years)", "/reports/pack", f"/reports/pack?{query}",
                  page_headers, 3.0))
    out = []
    for name, rule, path, headers, limit in items:
        if not ctx.route(rule):
            out.append(missing(name, f"< {limit:.0f} s", f"GET {rule}"))
            continue
        try:
            t = load.sequential(ctx.product.port, path, headers(), 2 if ctx.smoke else 5, 120)
        except TimeoutError:
            ctx.note_rss()
            ctx.product.stop()  # the worker would go on computing the abandoned report
            pgload.cancel_running(ctx.url)
            ctx.product.start("/healthz")
            out.append(Figure(name, "> 120 s (client timeout)", f"< {limit:.0f} s", ok=False,
                              note="the request was abandoned, its worker restarted and its "
                                   "query cancelled"))
            continue
        out.append(Figure(name, ms(t.median), f"< {limit:.0f} s",
                          f"one SQL funnel {ms(reference)}", f"{t.median / reference:.1f}×",
                          t.median < limit and t.ok,
                          f"median of {len(t.seconds)} after a warm-up, max {ms(max(t.seconds))}, "
                          f"statuses {t.statuses}"))
    return out


def calendar(ctx: Ctx) -> list[Figure]:
    from bench import calendar_bench

    m = calendar_bench.measure(10_000 if ctx.smoke else 100_000)
    per = 1e6 / m["cases"]
    cold, warm = m["t_pandas"] / m["t_cold"], m["t_pandas"] / m["t_warm"]
    same = not m["mismatches"] and not m["not_inverse"]
    return [Figure(f"BusinessCalendar.add, {m['cases']:,} cases", f"{m['t_warm'] * per:.1f} µs/call",
                   "≥ 10× pandas, identical answers", f"pandas {m['t_pandas'] * per:.1f} µs/call",
                   f"{warm:.1f}× faster", warm >= 10 and same,
                   f"warm: each chunk of {calendar_bench.CHUNK:,} cases at its fastest of {m['rounds']} "
                   f"interleaved rounds, both sides; cold caches (one pass) {cold:.1f}×; "
                   f"{len(m['mismatches'])} mismatches, "
                   f"{m['normalised']:,} landing-on-close cases normalised")]


def rss(ctx: Ctx) -> list[Figure]:
    mine = [m.get("VmRSS", 0) / 1024 for m in ctx.product.memory()]
    bare = [m.get("VmRSS", 0) / 1024 for m in ctx.bare.memory()]
    if not mine:
        return [Figure("web worker RSS after the run", "n/a (no worker)", "< 150 MB")]
    top = max([ctx.rss_seen, *mine])
    return [Figure("web worker RSS after the run", f"{top:.0f} MB", "< 150 MB",
                   f"bare worker {max(bare):.0f} MB" if bare else "",
                   f"{top / max(bare):.1f}×" if bare else "", top < 150,
                   "largest worker seen during the run; now per worker: "
                   + ", ".join(f"{v:.0f}" for v in mine) + " MB")]
