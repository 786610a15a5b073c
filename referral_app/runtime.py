"""`flask up`: one supervisor for web, RQ worker(s) and exactly one rq cron process."""
import os
import signal
import subprocess
import sys
import time

from referral_app.config import PROJECT_ROOT
from referral_app.jobs.connection import redis_url_for
from referral_app.jobs.queues import worker_queue_names

# RQ restarts a scheduler that died (a Redis outage kills it) only at its maintenance
# check, every 10 minutes by default: scheduled retries and due-time jobs would wait that long.
MAINTENANCE = ["--maintenance-interval", "60"]
# The app built once per worker process rather than in every job's work-horse.
WORKER_CLASS = ["--worker-class", "referral_app.jobs.worker.InterlockWorker"]


def commands(app, port: int, host: str, workers: int, redis_url: str) -> dict[str, list[str]]:
    """The child processes, by name."""
    bindir = os.path.dirname(sys.executable)
    rq = os.path.join(bindir, "rq")
    queues = worker_queue_names(app)
    procs = {"web": [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--host", host,
                     "--port", str(port), "--no-reload"]}
    for n in range(workers):
        procs[f"worker{n + 1}"] = [rq, "worker", "--with-scheduler", *MAINTENANCE, *WORKER_CLASS, "--url",
                                   redis_url, "--name", f"interlock-{os.getpid()}-{n + 1}",
                                   *queues]
    procs["cron"] = [rq, "cron", "--url", redis_url, "referral_app.jobs.cron"]
    if app.config.get("INTAKE_WRITER") == "process":
        # Without it every API referral would wait for a writer and get 503.
        procs["intake"] = [sys.executable, "-m", "flask", "--app", "wsgi", "intake-writer"]
    return procs


def run(app, port: int, host: str = "127.0.0.1", workers: int = 1) -> int:
    # Resolving the URL starts the embedded Redis when REDIS_URL is unset; this process
    # keeps it alive for as long as the children run.
    redis_url = redis_url_for(app.config)
    env = dict(os.environ, REDIS_URL=redis_url, PYTHONUNBUFFERED="1",
               QUEUE_PREFIX=app.config.get("QUEUE_PREFIX", ""))
    children: dict[str, subprocess.Popen] = {}
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for name, argv in commands(app, port, host, workers, redis_url).items():
        children[name] = subprocess.Popen(argv, env=env, cwd=PROJECT_ROOT, start_new_session=True)
    pids = " ".join(f"{name}={child.pid}" for name, child in children.items())
    writer = ", intake writer" if "intake" in children else ""
    print(f"Interlock is up: http://{host}:{port}/  (web, {workers} worker(s), cron{writer}; "
          f"Redis at {redis_url}). Ctrl-C stops everything.", flush=True)
    print(f"processes: {pids}", flush=True)
    code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{name} exited with {child.returncode}; stopping the others.", flush=True)
                code = child.returncode or 1
                stopping = True
                break
        time.sleep(0.2)
    shutdown(children)
    return code


def shutdown(children: dict, grace: float = 10.0) -> None:
    """SIGTERM every child (and its group), then SIGKILL what is left after `grace`."""
    for child in children.values():
        if child.poll() is None:
            try:
                os.killpg(child.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for child in children.values():
        try:
            child.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
