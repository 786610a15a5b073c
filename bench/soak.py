"""Soak: N referrals from C concurrent clients while Redis and the RQ workers are stopped and restarted.

Usage: python bench/soak.py [--referrals 10000] [--clients 32] [--redis-port 6390]

The app runs under gunicorn on PostgreSQL (its own database, `interlock_soak`, created when
missing and wiped at start) and a private redis-server on --redis-port, with two RQ workers and
`rq cron`. While the clients submit referrals through the API (each with an Idempotency-Key,
retried on errors), a chaos plan kills a worker mid-job (or, with --forking, its work-horses),
kills a worker, stops Redis, stops Redis and every worker together, and crashes Redis. At the end the script sweeps the SLA
clocks and prints: acknowledged referrals that exist, leads with their clocks, overdue clocks
left running, rewards present, missing and duplicated, and follow-ups never run (the cron's
recovery job re-enqueues what the outages lost). Only 127.0.0.1 is contacted; the
load is bounded by --referrals and --max-seconds. Exit status 1 when an invariant fails.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and the app importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import pgload  # noqa: E402
from bench import soak_checks as checks  # noqa: E402
from bench.server import HOST, ROOT, Gunicorn  # noqa: E402
from bench.soak_chaos import Chaos  # noqa: E402
from bench.soak_processes import Process, log, redis_ping, wait_for  # noqa: E402
from referral_app.runtime import MAINTENANCE, WORKER_CLASS  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/interlock_soak"
RUSH_EVERY = 10


def reset_database(url: str) -> None:
    name = pgload.database_name(url)
    if not name.startswith("interlock_soak"):
        raise SystemExit(f"refusing to wipe database {name!r}: the soak uses interlock_soak*")
    pgload.ensure_database(url)
    with pgload.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def seed(config: dict, clients: int) -> list[str]:
    """Tables, a 24/7 calendar, two products and their programs, reps and one referrer per
    client; the referrers' API tokens. "Soak" gives the first attempt an hour (no breach during
    the run); "Rush", every RUSH_EVERY-th referral, 72 seconds: those breach while we watch."""
    from datetime import timedelta
    from decimal import Decimal

    from referral_app.app import create_app
    from referral_app.extensions import db
    from referral_app.models import Agreement, Calendar, Program, RewardRule
    from referral_app.models.base import utcnow
    from referral_app.services.auth import create_token, create_user

    app = create_app(config)
    with app.app_context():
        db.create_all()
        cal = Calendar(name="always", timezone="UTC",
                       hours={str(d): [["00:00", "24:00"]] for d in range(7)})
        manager = create_user("manager@soak.example", "sales_manager", name="Soak Manager")
        for product, hours in (("Soak", "1"), ("Rush", "0.02")):
            db.session.add(Agreement(
                product=product, version=1, status="in_force", calendar=cal,
                first_attempt_hours=Decimal(hours), first_attempt_clock="calendar",
                effective_at=utcnow() - timedelta(days=1)))
            rules = [RewardRule(side=s, trigger=t, kind=k, amount=Decimal(a), currency="USD")
                     for s, t, k, a in checks.RULES]
            db.session.add(Program(name=product, slug=product.lower(), product=product,
                                   status="active", share_message="{link}", give_offer="10% off",
                                   mql_on_arrival=True, velocity_per_hour=10**6,
                                   velocity_per_ip=10**6, rules=rules))
            for n in range(4):
                create_user(f"rep{n}@{product.lower()}.example", "sales", product=product,
                            name=f"{product} rep {n}")
        db.session.flush()
        db.session.execute(db.text("UPDATE users SET manager_id = :m WHERE role = 'sales'"),
                           {"m": manager.id})
        tokens = []
        for c in range(clients):
            create_user(f"referrer{c}@soak.example", "referrer", kind="customer")
            tokens.append(create_token(f"referrer{c}@soak.example"))
        db.session.commit()
        db.engine.dispose()
    return tokens


class Load:
    """The clients: each submits its share of referrals, retrying with the same key."""

    def __init__(self, port: int, tokens: list[str], total: int, deadline: float):
        self.port, self.tokens, self.total, self.deadline = port, tokens, total, deadline
        self.run = secrets.token_hex(3)
        self.acked: dict[int, int] = {}  # referral number -> id the API answered
        self.statuses: Counter = Counter()
        self.lock = threading.Lock()

    def client(self, c: int) -> None:
        conn = None
        for i in range(c, self.total, len(self.tokens)):
            program = "rush" if i % RUSH_EVERY == 0 else "soak"
            body = json.dumps({"program": program, "consent": True, "referee": {
                "name": f"Soak {i}", "email": f"soak{i}@r{self.run}.example"}}).encode()
            headers = {"Authorization": f"Bearer {self.tokens[c]}", "Idempotency-Key": f"{self.run}-{i}",
                       "Content-Type": "application/json"}
            for attempt in range(10):
                if time.monotonic() > self.deadline:
                    return
                try:
                    conn = conn or http.client.HTTPConnection(HOST, self.port, timeout=60)
                    conn.request("POST", "/api/v1/referrals", body, headers)
                    response = conn.getresponse()
                    data = response.read()
                    status = str(response.status)
                except (OSError, http.client.HTTPException) as exc:
                    status, data = type(exc).__name__, b""
                    conn.close()
                    conn = None
                with self.lock:
                    self.statuses[status] += 1
                    if status == "201":
                        self.acked[i] = json.loads(data)["id"]
                if status == "201" or status in ("409", "422"):
                    break
                time.sleep(min(0.1 * 2 ** attempt, 3))

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self.client, args=(c,), daemon=True)
                   for c in range(len(self.tokens))]
        for thread in threads:
            thread.start()
        return threads

    @property
    def progress(self) -> float:
        return len(self.acked) / self.total


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--database-url", default=os.environ.get("SOAK_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--redis-port", type=int, default=6390)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gthread threads per worker")
    parser.add_argument("--outage", type=float, default=5, help="seconds Redis stays down")
    parser.add_argument("--max-seconds", type=float, default=1800, help="bound on the load")
    parser.add_argument("--drain-seconds", type=float, default=900,
                        help="bound on the wait for queues and the recovery to settle")
    parser.add_argument("--forking", action="store_true",
                        help="RQ's forking worker (kill work-horses mid-job) instead of "
                             "workers that run jobs in-process")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    start = time.monotonic()
    redis_url = f"redis://{HOST}:{args.redis_port}/0"
    if redis_ping(redis_url):
        raise SystemExit(f"something already listens on {HOST}:{args.redis_port}; pick --redis-port")
    folder = Path(tempfile.mkdtemp(prefix="interlock-soak-"))
    env = dict(os.environ, DATABASE_URL=args.database_url, REDIS_URL=redis_url,
               SECRET_KEY=secrets.token_urlsafe(32), INTERLOCK_ENV="production",
               INSTANCE_PATH=str(folder), QUEUE_PREFIX="", PYTHONUNBUFFERED="1",
               PYTHONPATH=str(ROOT))
    os.environ.update(INSTANCE_PATH=env["INSTANCE_PATH"], SECRET_KEY=env["SECRET_KEY"])
    config = {"SQLALCHEMY_DATABASE_URI": pgload.plain(args.database_url).replace(
        "postgresql://", "postgresql+psycopg://", 1), "REDIS_URL": redis_url,
        "INSTANCE_PATH": str(folder), "SECRET_KEY": env["SECRET_KEY"], "QUEUE_PREFIX": ""}
    bindir = Path(sys.executable).parent
    redis = Process("redis", ["redis-server", "--port", str(args.redis_port), "--bind", HOST,
                              "--dir", str(folder), "--appendonly", "yes", "--save", "",
                              "--protected-mode", "yes"], env, folder / "redis.log")
    worker_class = ["--worker-class", "referral_app.jobs.worker.InterlockForkingWorker"] \
        if args.forking else WORKER_CLASS
    workers = [Process(f"worker{n}", [str(bindir / "rq"), "worker", "--with-scheduler",
                                      *MAINTENANCE, *worker_class,
                                      "--url", redis_url, "--logging_level", "WARNING", *checks.QUEUES],
                       env, folder / f"worker{n}.log") for n in (1, 2)]
    cron = Process("cron", [str(bindir / "rq"), "cron", "--url", redis_url,
                            "--logging-level", "warning", "referral_app.jobs.cron"],
                   env, folder / "cron.log")
    web = Gunicorn("wsgi:app", env, args.workers, args.threads, "soak")
    started = [redis]
    try:
        log(start, f"database {pgload.database_name(args.database_url)}, Redis {redis_url}, "
                   f"logs in {folder}")
        reset_database(args.database_url)
        redis.start()
        if not wait_for(lambda: redis_ping(redis_url), 30):
            raise SystemExit("redis-server did not start: " + (folder / "redis.log").read_text())
        tokens = seed(config, args.clients)
        web.start(ready_path="/healthz")
        for proc in (*workers, cron):
            proc.start()
            started.append(proc)
        log(start, f"gunicorn ({web.config}) on port {web.port}, 2 RQ workers, rq cron: "
                   f"{args.referrals} referrals from {args.clients} clients")
        load = Load(web.port, tokens, args.referrals, time.monotonic() + args.max_seconds)
        chaos = Chaos(start, redis, workers, cron, args.outage, redis_url, args.forking)
        stop = threading.Event()
        watcher = threading.Thread(target=chaos.run, args=(load, stop), daemon=True)
        began = time.monotonic()
        threads = load.start()
        watcher.start()
        for thread in threads:
            thread.join()
        took = time.monotonic() - began
        stop.set()
        watcher.join()
        log(start, f"load done: {len(load.acked)} acknowledged in {took:.0f} s "
                   f"({len(load.acked) / took:.0f}/s); answers {dict(load.statuses)}")
        chaos.up(redis, *workers, cron)
        # The cron's recovery re-enqueues what the outages lost, two minutes after the fact.
        deadline, idle = time.monotonic() + args.drain_seconds, False
        while not idle and time.monotonic() < deadline:
            time.sleep(15)
            idle, left = checks.settled(redis_url, args.database_url)
            log(start, f"settling: queues {checks.queue_sizes(redis_url)}, outstanding {left}")
        log(start, f"{'settled' if idle else 'NOT settled'}; stopping workers and cron")
        for proc in (*workers, cron):
            proc.stop()
        moved = checks.run_pending_retries(redis_url)
        bursts = [Process(f"burst{n}", [str(bindir / "rq"), "worker", "--burst", *worker_class,
                                        "--url", redis_url, "--logging_level",
                                        "WARNING", *checks.QUEUES], env, folder / f"burst{n}.log")
                  for n in (1, 2)]
        for proc in bursts:
            proc.start()
            started.append(proc)
        done = wait_for(lambda: not any(p.alive() for p in bursts),
                        max(deadline - time.monotonic(), 60))
        for proc in bursts:
            proc.stop()
        log(start, f"{moved} abandoned or backing-off job(s) queued; burst workers "
                   f"{'emptied the queues' if done else 'stopped at the time bound'}")
        sweep = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "sla", "sweep"],
                               env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        log(start, f"sweep: {sweep.stdout.strip() or sweep.stderr.strip()[-300:]}")
        result = checks.counts(args.database_url, load.acked)
        failures = checks.verdict(result)
        print(json.dumps(result, indent=2))
        print("chaos:", "; ".join(e for e in chaos.events if not e.startswith("  ")))
        print("VERDICT:", "all invariants hold" if not failures else "FAIL: " + "; ".join(failures))
        return 1 if failures else 0
    finally:
        web.stop()
        for proc in reversed(started):
            proc.stop()


if __name__ == "__main__":
    sys.exit(main())
