"""Soak: the child processes it starts and signals (redis-server, workers, cron), and waiting."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from bench.server import ROOT


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
