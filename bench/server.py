"""Gunicorn processes for the benchmark: start on a free loopback port, wait, measure, stop."""
from __future__ import annotations

import http.client
import os
import resource
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


def _cpu_of(stat: str) -> float:
    """utime + stime of a /proc/<pid>/stat line, in seconds (fields follow the last ')')."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _other_database(entry: Path, database: str) -> bool:
    """Whether a postgres process is a backend of another database: its title reads
    "postgres: <cluster>: <user> <database> <host>(<port>) <state>" (background processes
    such as the WAL writer serve every database and are counted)."""
    title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    words = title.split(": ")[-1].split()
    return len(words) >= 3 and ("(" in words[2] or words[2] == "[local]") and words[1] != database


def cpu_by_process(pids: dict[int, str], names: tuple[str, ...],
                   database: str) -> dict[tuple[str, int], float]:
    """CPU seconds used so far by each process, keyed (part, pid): `pids` as their part, every
    process named in `names` (PostgreSQL, but not other databases' backends; Redis), read
    from /proc; the load tool (pid 0) is a waited-for child."""
    used: dict[tuple[str, int], float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if int(entry.name) in pids:
                used[(pids[int(entry.name)], int(entry.name))] = _cpu_of(
                    (entry / "stat").read_text())
            elif comm in names and not (comm == "postgres" and _other_database(entry, database)):
                used[(comm, int(entry.name))] = _cpu_of((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    used[("load tool", 0)] = children.ru_utime + children.ru_stime
    return used


def _session_nice(pid: int, nice: int) -> None:
    """`nice` for the whole session `pid` leads, against other sessions, where the kernel
    schedules sessions as groups (autogroup, on by default in Debian's kernels): there a
    process's own niceness orders it only against the threads of its session, and gunicorn,
    the intake writer and PostgreSQL are each a session of their own (docs/performance.md,
    session 17)."""
    try:
        with open(f"/proc/{pid}/autogroup", "w") as group:
            group.write(str(nice))
    except OSError:
        pass  # no autogroup (or not allowed): the process's niceness is all there is


class CpuMeter:
    """Where the machine's CPU went during a load: the app's workers, the database, Redis
    and the load tool, per request. Differenced per process: one that started meanwhile
    counts from zero, one that ended meanwhile (a database backend closed by the pool) is
    not counted, rather than subtracting its whole life from the others."""

    NAMES = ("postgres", "redis-server")

    def __init__(self, server: Gunicorn, database: str):
        # The web workers and the intake writer processes apart: they are scaled apart.
        self.pids = {pid: "web" for pid in server.worker_pids()}
        self.pids.update({pid: "writer" for pid in server.writer_pids()})
        self.database = database
        self.before = cpu_by_process(self.pids, self.NAMES, database)

    def per_request(self, requests: int) -> dict[str, float]:
        """CPU milliseconds per request of each part since the meter was made."""
        after = cpu_by_process(self.pids, self.NAMES, self.database)
        out = dict.fromkeys(("web", *self.pids.values(), *self.NAMES, "load tool"), 0.0)
        for (part, pid), seconds in after.items():
            out[part] += (seconds - self.before.get((part, pid), 0.0)) * 1000 / max(requests, 1)
        return out


class Gunicorn:
    """One gunicorn master with the benchmark's worker configuration, on its own port."""

    def __init__(self, app: str, env: dict, workers: int, threads: int, name: str,
                 nice: int = 0):
        self.app, self.env, self.name = app, env, name
        self.workers, self.threads, self.nice = workers, threads, nice
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.writers: list[subprocess.Popen] = []  # `flask intake-writer` processes
        self.log = Path(os.environ.get("TMPDIR", "/tmp")) / f"interlock-bench-{name}-{self.port}.log"

    @property
    def config(self) -> str:
        writers = (f" + {len(self.writers)} intake writer process(es)" if self.writers
                   else "")
        niced = f" at nice {self.nice}" if self.nice else ""
        return f"{self.workers} workers x gthread {self.threads} threads{niced}{writers}"

    def start_writers(self, count: int) -> Gunicorn:
        """`count` intake writers (INTAKE_WRITER=process in the env) beside the workers."""
        flask = str(Path(sys.executable).with_name("flask"))
        for _ in range(count):
            with open(self.log, "ab") as log:
                self.writers.append(subprocess.Popen(
                    [flask, "--app", "wsgi", "intake-writer"], env=self.env, cwd=ROOT,
                    stdout=log, stderr=log, start_new_session=True))
        return self

    def writer_pids(self) -> list[int]:
        return [w.pid for w in self.writers if w.poll() is None]

    def start(self, ready_path: str = "/", timeout: float = 60) -> Gunicorn:
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        argv = (["nice", "-n", str(self.nice)] if self.nice else []) + [
                gunicorn, self.app, "--bind", f"{HOST}:{self.port}", "--workers", str(self.workers),
                "--worker-class", "gthread", "--threads", str(self.threads), "--timeout", "300",
                "--keep-alive", "30", "--backlog", "256", "--log-level", "warning",
                "--chdir", str(ROOT)]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=log, stderr=log,
                                         start_new_session=True)
        if self.nice:
            _session_nice(self.proc.pid, self.nice)
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
        """SIGTERM the master we started (gunicorn stops its workers) and the intake writers,
        SIGKILL after `grace`."""
        for writer in self.writers:
            if writer.poll() is None:
                writer.send_signal(signal.SIGTERM)
                try:
                    writer.wait(grace)
                except subprocess.TimeoutExpired:
                    writer.kill()
                    writer.wait()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
