"""The Interlock benchmark: every figure of issue 9 against its reference, in one command.

Usage: python bench/run.py [--leads 1000000] [--smoke] [--regenerate] [--only NAME ...]

Generates the data set when the database does not hold one of this scale (bench/generate.py,
niced), starts the app under gunicorn on PostgreSQL and Redis, plus a bare Flask app under the
same gunicorn configuration, measures each figure (endpoints that are not built yet print
"n/a"), prints the table and writes it to bench/results/latest.md. Only 127.0.0.1 is ever
contacted; every request loop is bounded in count and in time.
"""
from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and the app importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import figures, figures_db, figures_jobs, pgload, report, scenario  # noqa: E402
from bench.generate import GENERATOR_VERSION, read_meta, schema_fingerprint  # noqa: E402
from bench.server import ROOT, Gunicorn  # noqa: E402

DEFAULT_REDIS = "redis://127.0.0.1:6379/14"  # a database of its own: flushed before and after
SMOKE_LEADS = 10_000
# Reports go last: a report the client gave up on keeps its worker and the database busy.
FIGURES = {"calendar": figures.calendar, "intake": figures.intake, "queue": figures.queue,
           "sweep": figures_db.sweep, "export": figures_db.export, "rollup": figures_db.roll_up,
           "jobs": figures_jobs.jobs, "reports": figures.reports,
           "rss": figures.rss}


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_LEADS:,} leads, short loads")
    parser.add_argument("--regenerate", action="store_true", help="rebuild the data set anyway")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="default: database interlock_bench (interlock_bench_smoke for --smoke)")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--workers", type=int, default=1,
                        help="gunicorn workers (1: the all-in-one 2-core machine of "
                             "docs/deploy.md; product and bare alike)")
    parser.add_argument("--threads", type=int, default=32,
                        help="gthread threads per worker (as docs/deploy.md)")
    parser.add_argument("--web-nice", type=int, default=0,
                        help="niceness of the web processes and their session, product and "
                             "bare alike (0: as docs/deploy.md)")
    parser.add_argument("--intake-writers", type=int, default=1, choices=(0, 1),
                        help="1: a `flask intake-writer` process (INTAKE_WRITER=process, as "
                             "docs/deploy.md); 0: the writer thread in each web worker")
    parser.add_argument("--seconds", type=float, default=None, help="length of each load")
    parser.add_argument("--only", nargs="*", choices=list(FIGURES), help="measure only these")
    args = parser.parse_args(argv)
    if args.smoke:
        args.leads = SMOKE_LEADS
    # The smoke data set lives apart, so CI's smoke never replaces a generated million.
    args.database_url = args.database_url or (
        pgload.DEFAULT_URL + "_smoke" if args.smoke else pgload.DEFAULT_URL)
    args.seconds = args.seconds or (3 if args.smoke else 10)
    if args.only and "reports" in args.only and "rollup" not in args.only:
        # Reports read the rolled-up report days: without the pass they read live rows and
        # measure a deployment whose cron never ran (an SLA report of 8 s instead of 0.4 s).
        args.only.insert(args.only.index("reports"), "rollup")
    return args


def ensure_data(args) -> dict:
    meta = read_meta(args.database_url)
    same = (meta.get("leads") == str(args.leads) and meta.get("version") == str(GENERATOR_VERSION)
            and meta.get("schema") == schema_fingerprint())
    if same and not args.regenerate:
        print(f"data set: {args.leads:,} leads generated at {meta.get('now')} (reused)")
        return meta
    why = "asked to" if same else "none of this scale and schema yet"
    print(f"data set: generating {args.leads:,} leads ({why}; nice -n 10)...", flush=True)
    subprocess.run(["nice", "-n", "10", sys.executable, str(ROOT / "bench" / "generate.py"),
                    "--leads", str(args.leads), "--database-url", args.database_url], check=True)
    return read_meta(args.database_url)


def flush_redis(url: str) -> None:
    """Jobs the run enqueued (no worker runs during it) go with the benchmark's own Redis db."""
    from redis import Redis

    if url.rstrip("/").endswith("/14") or os.environ.get("BENCH_FLUSH_REDIS") == "1":
        Redis.from_url(url, socket_connect_timeout=2).flushdb()


def environment(args, instance: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    env.update(DATABASE_URL=args.database_url, REDIS_URL=args.redis_url, QUEUE_PREFIX="bench:",
               SECRET_KEY=secrets.token_urlsafe(32), INSTANCE_PATH=instance,
               INTERLOCK_ENV="production",
               # One integration posts everything from 127.0.0.1: per-IP limits would refuse it.
               RATELIMIT_ENABLED="0", PYTHONUNBUFFERED="1", MALLOC_ARENA_MAX="2",
               # Every thread and intake's writer keep a connection (docs/deploy.md).
               DB_POOL_SIZE=str(max(args.threads + 4, 20)),
               INTAKE_WRITER="process" if args.intake_writers else "thread")
    return env


def main(argv=None) -> int:
    args = parse(argv)
    pgload.guard(args.database_url, "public")
    pgload.ensure_database(args.database_url)
    meta = ensure_data(args)
    flush_redis(args.redis_url)
    instance = tempfile.mkdtemp(prefix="interlock-bench-")
    env = environment(args, instance)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "QUEUE_PREFIX",
                                           "SECRET_KEY", "INSTANCE_PATH", "RATELIMIT_ENABLED")})
    from referral_app.app import create_app

    app = create_app()
    run_id = secrets.token_hex(3)
    load_before = os.getloadavg()
    scene = product = bare = None
    results: list[report.Figure] = []
    try:
        scene = scenario.prepare(app, run_id)
        product = Gunicorn("wsgi:app", env, args.workers, args.threads, "product",
                           args.web_nice).start(
            "/healthz").start_writers(args.intake_writers)
        bare = Gunicorn("bench.bare_app:app", env, args.workers, args.threads, "bare",
                        args.web_nice).start("/")
        ctx = figures.Ctx(args.database_url, app, scene, product, bare, args.leads, args.smoke,
                          args.seconds)
        for name, measure in FIGURES.items():
            if args.only and name not in args.only:
                continue
            began = time.monotonic()
            print(f"measuring {name}...", flush=True)
            try:
                results += measure(ctx)
            except Exception as exc:  # one broken figure must not hide the others
                traceback.print_exc()
                results.append(report.Figure(name, f"error: {type(exc).__name__}: {exc}"[:120],
                                             "-", ok=False))
            print(f"  {time.monotonic() - began:.0f} s", flush=True)
    finally:
        for server in (product, bare):
            if server is not None:
                server.stop()
        pgload.cancel_running(args.database_url)
        scenario.cleanup(args.database_url, scene)
        flush_redis(args.redis_url)
    context = [f"data set: {args.leads:,} leads (generated {meta.get('now', '?')}, "
               f"{meta.get('seconds', '?')} s to generate), PostgreSQL "
               f"{pgload.database_name(args.database_url)}",
               f"machine: {report.machine()}",
               f"gunicorn: {args.workers} workers × gthread {args.threads} threads, 127.0.0.1; "
               f"Redis {args.redis_url}",
               "load average (1/5/15 min) at start {:.1f}/{:.1f}/{:.1f}, at end {:.1f}/{:.1f}/{:.1f}"
               " (the machine is shared: anything above ~0.5 is other work)".format(
                   *load_before, *os.getloadavg()),
               "reproduce: `make bench` (1M leads) or `make bench-smoke` (10k leads)"]
    text = report.render(results, context)
    print()
    print(text)
    print(f"written to {report.write(text, smoke=args.smoke)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
