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
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from rq import SimpleWorker, Worker

if __package__ in (None, ""):  # run as a script: make `bench` and the app importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import pgload  # noqa: E402
from bench.server import HOST, ROOT, Gunicorn  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/interlock_soak"
QUEUES = ("sla", "default", "notifications", "imports")
RULES = (("give", "submitted", "percent", "10"), ("get", "submitted", "fixed", "10"),
         ("get", "mql", "fixed", "5"))  # the programs are MQL on arrival: 3 rewards per referral
RUSH_EVERY = 10


def _preload() -> None:
    """Import the job modules and build the app once, in the worker process itself."""
    from referral_app.jobs import base, lead_events, notifications, recovery, rewards, sla  # noqa: F401

    base._app()


class PreloadingWorker(Worker):
    """RQ's forking worker with the app built before the fork (in the parent, once).

    The plain worker imports the app and builds it in every work-horse: about a second per
    job, far slower than the jobs themselves. Forking semantics (a work-horse killed mid-job is
    noticed by its parent and the job retried) are kept. Used with --forking.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _preload()


class PreloadedSimpleWorker(SimpleWorker):
    """A worker that runs jobs in its own process, on one app and its connection pool (the
    default: a fork and a new database connection per job cost more than most jobs). Killed
    mid-job, its job is abandoned and retried by RQ's registry cleanup."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _preload()


def log(start: float, message: str) -> None:
    print(f"[{time.monotonic() - start:7.1f}s] {message}", flush=True)


class Process:
    """One child process we started (and only ever signal ourselves)."""

    def __init__(self, name: str, argv: list[str], env: dict, logfile: Path):
        self.name, self.argv, self.env, self.logfile = name, argv, env, logfile
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.logfile, "ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=out,
                                         stderr=out, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.alive():
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace: float = 10) -> None:
        self.signal_group(signal.SIGTERM)
        if self.proc is not None:
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.proc.wait()

    def cpu_busy(self) -> bool:
        """Running on a CPU right now (state R): for a worker, most likely inside a job."""
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
        except (OSError, AttributeError):
            return False
        return stat.rsplit(")", 1)[1].split()[0] == "R"

    def kill_children(self) -> int:
        """SIGKILL the work-horses of a worker (a crash mid-job); how many."""
        if not self.alive():
            return 0
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True)
        pids = [int(p) for p in out.stdout.split()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)


def redis_ping(url: str) -> bool:
    from redis import Redis

    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:  # down, starting, loading the AOF: all "not yet"
        return False


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


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
                     for s, t, k, a in RULES]
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


class Chaos:
    """The plan, by share of referrals acknowledged; a supervisor restarts what died."""

    def __init__(self, start, redis, workers, cron, outage: float, redis_url: str,
                 forking: bool):
        self.start_at, self.redis, self.workers, self.cron = start, redis, workers, cron
        self.outage, self.redis_url, self.forking = outage, redis_url, forking
        self.expected = {p.name: True for p in (redis, cron, *workers)}
        self.events: list[str] = []

    def note(self, message: str) -> None:
        self.events.append(message)
        log(self.start_at, message)

    def up(self, *procs) -> None:
        """Start what is down, Redis first (the others need it)."""
        for proc in sorted(procs, key=lambda p: p is not self.redis):
            self.expected[proc.name] = True
            if not proc.alive():
                proc.start()
            if proc is self.redis:
                wait_for(lambda: redis_ping(self.redis_url), 30)

    def down(self, *procs, sig=signal.SIGTERM) -> None:
        for proc in procs:
            self.expected[proc.name] = False
            if sig == signal.SIGTERM:
                proc.stop()
            else:
                proc.signal_group(sig)
                proc.proc.wait()

    def kill_horses(self) -> None:
        """SIGKILL the work-horses running a job, waiting up to 10 s for one to be busy."""
        killed = 0
        for _ in range(100):
            killed = sum(w.kill_children() for w in self.workers)
            if killed:
                break
            time.sleep(0.1)
        self.note(f"  {killed} work-horse(s) killed mid-job")

    def kill_worker_mid_job(self) -> None:
        """SIGKILL worker 2 while it runs a job (the job is abandoned), restart it."""
        w2 = self.workers[1]
        wait_for(w2.cpu_busy, 5)
        self.down(w2, sig=signal.SIGKILL)
        self.up(w2)

    def plan(self):
        w1, w2 = self.workers
        crash = (self.kill_horses, "kill -9 the work-horses (jobs die mid-run)") if self.forking \
            else (self.kill_worker_mid_job, "kill -9 worker 2 mid-job, restart it")
        return [
            (0.10, crash[1], crash[0]),
            (0.20, "kill -9 worker 1, restart it 2 s later",
             lambda: (self.down(w1, sig=signal.SIGKILL), time.sleep(2), self.up(w1))),
            (0.35, f"stop Redis for {self.outage:.0f} s",
             lambda: (self.down(self.redis), time.sleep(self.outage), self.up(self.redis))),
            (0.55, f"stop Redis, both workers and cron for {self.outage:.0f} s",
             lambda: (self.down(w1, w2, self.cron, self.redis), time.sleep(self.outage),
                      self.up(self.redis), self.up(w1, w2, self.cron))),
            (0.75, "kill -9 Redis (a crash), restart it 3 s later",
             lambda: (self.down(self.redis, sig=signal.SIGKILL), time.sleep(3),
                      self.up(self.redis))),
            (0.85, crash[1] + " (again)", crash[0]),
        ]

    def run(self, load: Load, stop: threading.Event) -> None:
        """Each step once its share is acknowledged (every step, also after a fast load)."""
        steps = self.plan()
        while steps or not stop.is_set():
            if steps and (load.progress >= steps[0][0] or stop.is_set()):
                share, what, action = steps.pop(0)
                self.note(f"chaos at {share:.0%} acknowledged: {what}")
                action()
            if redis_ping(self.redis_url):  # a worker or cron that lost Redis may have exited
                for proc in (*self.workers, self.cron):
                    if self.expected[proc.name] and not proc.alive():
                        self.note(f"{proc.name} had exited ({proc.proc.returncode}); restarted")
                        proc.start()
            time.sleep(0.3)


def queues_idle(redis_url: str) -> bool:
    from redis import Redis
    from rq import Queue
    from rq.registry import StartedJobRegistry

    conn = Redis.from_url(redis_url)
    return all(Queue(q, connection=conn).count == 0
               and StartedJobRegistry(q, connection=conn).count == 0 for q in QUEUES)


def queue_sizes(redis_url: str) -> dict[str, int]:
    from redis import Redis
    from rq import Queue

    conn = Redis.from_url(redis_url)
    return {q: Queue(q, connection=conn).count for q in QUEUES}


def run_pending_retries(redis_url: str) -> int:
    """Every worker is stopped. What is still 'started' was abandoned: RQ retries it once its
    heartbeat expires, so do that now. Retries waiting out their backoff are queued now too
    (the SLA jobs planned at a due time stay planned). How many jobs were queued."""
    from redis import Redis
    from rq import Queue
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry, StartedJobRegistry

    conn = Redis.from_url(redis_url)
    moved = 0
    for q in QUEUES:
        StartedJobRegistry(q, connection=conn).cleanup(timestamp=time.time() + 3600)
        queue, planned = Queue(q, connection=conn), ScheduledJobRegistry(q, connection=conn)
        for job_id in planned.get_job_ids():
            job = Job.fetch(job_id, connection=conn)
            if job.func_name in ("referral_app.jobs.sla.warn", "referral_app.jobs.sla.due"):
                continue
            planned.remove(job)
            queue.enqueue_job(job)
            moved += 1
    return moved


def counts(url: str, acked: dict[int, int]) -> dict:
    ids = list(acked.values())
    with pgload.connect(url) as conn:
        one = lambda sql, *a: conn.execute(sql, a).fetchone()[0]  # noqa: E731
        return {
            "acknowledged": len(ids),
            "acknowledged_found": one("SELECT count(*) FROM referrals WHERE id = ANY(%s)", ids),
            "referrals": one("SELECT count(*) FROM referrals"),
            "leads": one("SELECT count(*) FROM leads"),
            "referrals_without_lead": one(
                "SELECT count(*) FROM referrals r WHERE NOT EXISTS "
                "(SELECT 1 FROM leads l WHERE l.referral_id = r.id)"),
            "leads_unassigned": one("SELECT count(*) FROM leads WHERE owner_id IS NULL"),
            "leads_without_clock": one(
                "SELECT count(*) FROM leads l WHERE l.owner_id IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM sla_clocks c WHERE c.lead_id = l.id AND c.kind = 'first_attempt')"),
            "clocks_breached": one("SELECT count(*) FROM sla_clocks WHERE status = 'breached'"),
            "clocks_overdue_running": one(
                "SELECT count(*) FROM sla_clocks WHERE status = 'running' AND due_at < now()"),
            "clocks_running_not_due": one(
                "SELECT count(*) FROM sla_clocks WHERE status = 'running' AND due_at >= now()"),
            "breaches_unhandled": one("SELECT count(*) FROM sla_clocks WHERE status = 'breached' "
                                      "AND handled_at IS NULL"),
            "rewards_expected": one("SELECT count(*) FROM referrals") * len(RULES),
            "rewards": one("SELECT count(*) FROM rewards"),
            "rewards_distinct": one(
                "SELECT count(*) FROM (SELECT DISTINCT rule_id, referral_id FROM rewards) x"),
            **outstanding(conn),
        }


def outstanding(conn) -> dict[str, int]:
    """Follow-ups whose database mark says they have not run (yet)."""
    one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "referrals_not_followed_up": one(
            "SELECT count(*) FROM referrals WHERE followed_up_at IS NULL"),
        "stage_events_unprocessed": one(
            "SELECT count(*) FROM lead_events WHERE kind = 'stage' AND processed_at IS NULL"),
        "notifications_pending": one(
            "SELECT count(*) FROM notifications WHERE status = 'pending'"),
    }


def settled(redis_url: str, url: str) -> tuple[bool, dict]:
    """Queues empty and nothing outstanding in the database: everything lost was recovered."""
    with pgload.connect(url) as conn:
        left = outstanding(conn)
    return queues_idle(redis_url) and not any(left.values()), left


def verdict(c: dict) -> list[str]:
    failures = []
    if c["acknowledged_found"] != c["acknowledged"]:
        failures.append("an acknowledged referral is missing")
    if c["referrals_without_lead"] or c["leads_without_clock"]:
        failures.append("a lead or its first-attempt clock is missing")
    if c["clocks_overdue_running"]:
        failures.append("an overdue clock is still running after the sweep")
    if c["rewards"] != c["rewards_distinct"]:
        failures.append("a reward exists twice")
    if c["rewards_distinct"] != c["rewards_expected"]:
        failures.append(f"{c['rewards_expected'] - c['rewards_distinct']} reward(s) missing")
    if c["referrals_not_followed_up"] or c["stage_events_unprocessed"]:
        failures.append("a follow-up job never ran")
    return failures


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
    worker_class = "bench.soak." + ("PreloadingWorker" if args.forking else "PreloadedSimpleWorker")
    workers = [Process(f"worker{n}", [str(bindir / "rq"), "worker", "--with-scheduler",
                                      "--worker-class", worker_class,
                                      "--url", redis_url, "--logging_level", "WARNING", *QUEUES],
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
            idle, left = settled(redis_url, args.database_url)
            log(start, f"settling: queues {queue_sizes(redis_url)}, outstanding {left}")
        log(start, f"{'settled' if idle else 'NOT settled'}; stopping workers and cron")
        for proc in (*workers, cron):
            proc.stop()
        moved = run_pending_retries(redis_url)
        bursts = [Process(f"burst{n}", [str(bindir / "rq"), "worker", "--burst", "--worker-class",
                                        worker_class, "--url", redis_url, "--logging_level",
                                        "WARNING", *QUEUES], env, folder / f"burst{n}.log")
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
        result = counts(args.database_url, load.acked)
        failures = verdict(result)
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
