"""`flask up` starts web, worker and cron on the embedded Redis, and stops all three."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes: it has exited and waits to be reaped.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.slow
def test_up_starts_and_stops_web_worker_and_cron(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(INSTANCE_PATH=str(tmp_path), FLASK_APP="wsgi", PYTHONUNBUFFERED="1")
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    proc = subprocess.Popen([*flask, "up", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids, lines = {}, []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("processes:"):
                pids = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
                break
        assert set(pids) == {"web", "worker1", "cron"}, "".join(lines)
        status, body = 0, {}
        deadline = time.monotonic() + 90  # cron's first heartbeat must run through the worker
        while time.monotonic() < deadline:
            try:
                status, body = _health(port)
            except OSError:
                status = 0
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, body
        assert body == {"database": "ok", "queue": "ok", "workers": 1, "cron": "ok"}
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert all(not _alive(pid) for pid in pids.values())


def test_workers_restart_a_dead_scheduler_within_a_minute(app):
    from referral_app.runtime import commands

    procs = commands(app, 5000, "127.0.0.1", 2, "redis://127.0.0.1:6379/0")
    for name in ("worker1", "worker2"):
        args = procs[name]
        assert "--with-scheduler" in args
        assert args[args.index("--maintenance-interval") + 1] == "60"
        assert args[args.index("--worker-class") + 1] == "referral_app.jobs.worker.InterlockWorker"


def test_up_starts_the_intake_writer_only_when_intake_writes_in_a_process(app, monkeypatch):
    from referral_app.runtime import commands

    assert "intake" not in commands(app, 5000, "127.0.0.1", 1, "redis://127.0.0.1:6379/0")
    monkeypatch.setitem(app.config, "INTAKE_WRITER", "process")
    procs = commands(app, 5000, "127.0.0.1", 1, "redis://127.0.0.1:6379/0")
    assert procs["intake"][-3:] == ["--app", "wsgi", "intake-writer"]
