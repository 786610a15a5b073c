"""Gunicorn processes for the benchmark: start on a free loopback port, wait, measure, stop."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # the benchmark never talks to anything but loopback


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak resident) of a process, in kB, from /proc/<pid>/status."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    except FileNotFoundError:
        pass
    return values


class Gunicorn:
    """One gunicorn master with the benchmark's worker configuration, on its own port."""

    def __init__(self, app: str, env: dict, workers: int, threads: int, name: str):
        self.app, self.env, self.name = app, env, name
        self.workers, self.threads = workers, threads
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"interlock-bench-{name}-{self.port}.log"

    @property
    def config(self) -> str:
        return f"{self.workers} workers x gthread {self.threads} threads"

    def start(self, ready_path: str = "/", timeout: float = 60) -> Gunicorn:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        argv = [gunicorn, self.app, "--bind", f"{HOST}:{self.port}", "--workers", str(self.workers),
                "--worker-class", "gthread", "--threads", str(self.threads), "--timeout", "300",
                "--keep-alive", "30", "--backlog", "256", "--log-level", "warning",
                "--chdir", str(ROOT)]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=log, stderr=log,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn {self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=5)
                conn.request("GET", ready_path)
                conn.getresponse().read()
                conn.close()
                if len(self.worker_pids()) >= self.workers:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn {self.name} did not answer within {timeout:.0f} s")

    def worker_pids(self) -> list[int]:
        if self.proc is None:
            return []
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                # The command may contain spaces and parentheses: fields follow the last ')'.
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                    pids.append(int(entry.name))
        return sorted(pids)

    def memory(self) -> list[dict[str, int]]:
        return [proc_status(pid) for pid in self.worker_pids()]

    def stop(self, grace: float = 10) -> None:
        """SIGTERM the master we started (gunicorn stops its workers), SIGKILL after `grace`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
