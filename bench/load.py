"""HTTP load on 127.0.0.1: wrk for concurrency (threads + http.client without it), sequential timing.

Every loop is bounded in request count and in time, and only ever connects to loopback.
"""
from __future__ import annotations

import http.client
import json
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.server import HOST

WRK_SCRIPT = r"""
local counter, tid = 0, 0
local limit = tonumber(os.getenv("BENCH_MAX_REQUESTS_PER_THREAD") or "100000")
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  tid = tonumber(wrk.thread:get("tid"))
end
local keyed = os.getenv("BENCH_KEYED") == "1"
function request()
  counter = counter + 1
  local body = string.format(os.getenv("BENCH_BODY"), tid, counter, os.getenv("BENCH_RUN"), tid, counter)
  local headers = nil
  if keyed then  -- the command line's headers (-H) and a key of its own
    headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    headers["Idempotency-Key"] = string.format("%s-%d-%d", os.getenv("BENCH_RUN"), tid, counter)
  end
  return wrk.format(os.getenv("BENCH_METHOD"), os.getenv("BENCH_PATH"), headers, body)
end
local shown = 0
function response(status, headers, body)
  if status >= 300 and shown < 3 then  -- what an error answer said, for the figure's note
    shown = shown + 1
    io.write(string.format("BENCHBAD %d %s\n", status, string.sub(body or "", 1, 160)))
  end
  if counter >= limit then wrk.thread:stop() end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests": %d, "duration_us": %d, "p50_us": %d, ' ..
    '"p99_us": %d, "status_errors": %d, "socket_errors": %d, "p90_us": %d, ' ..
    '"p999_us": %d, "mean_us": %.0f, "stdev_us": %.0f}\n', summary.requests,
    summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(90),
    latency:percentile(99.9), latency.mean, latency.stdev))
end
"""


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str
    statuses: dict = field(default_factory=dict)
    # The distribution's shape, ms: p90, p99.9, mean, sd (a broad one, or a few outliers?)
    spread: dict = field(default_factory=dict)

    @property
    def shape(self) -> str:
        s = self.spread
        return (f"p90 {s['p90']:.1f}, p99.9 {s['p999']:.1f}, mean {s['mean']:.1f} ± sd "
                f"{s['sd']:.1f} ms" if s else "")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def concurrent(port: int, method: str, path: str, headers: dict, body_format: str, run_id: str,
               connections: int = 32, seconds: float = 10, max_requests: int = 200_000,
               keyed: bool = False) -> LoadResult:
    """`connections` keep-alive connections for `seconds` (and at most `max_requests`).

    body_format has five %-placeholders: (thread, n, run, thread, n), so every body is unique
    (a fresh referee e-mail per request). `keyed`: each request also sends an
    Idempotency-Key of its own, `<run>-<thread>-<n>`, as an integration that retries safely.
    """
    tool = _wrk if shutil.which("wrk") else _threads
    return tool(port, method, path, headers, body_format, run_id, connections, seconds,
                max_requests, keyed)


def _wrk(port, method, path, headers, body_format, run_id, connections, seconds, max_requests,
         keyed=False):
    threads = 2
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds:.0f}s",
            "--timeout", "10s", "-s", script.name]
    for key, value in headers.items():
        argv += ["-H", f"{key}: {value}"]
    argv.append(f"http://{HOST}:{port}{path}")
    env = {"BENCH_BODY": body_format, "BENCH_RUN": run_id, "BENCH_METHOD": method,
           "BENCH_PATH": path, "BENCH_MAX_REQUESTS_PER_THREAD": str(max_requests // threads),
           "BENCH_KEYED": "1" if keyed else "0", "PATH": "/usr/bin:/bin"}
    try:
        out = subprocess.run(argv, env=env, capture_output=True, text=True,
                             timeout=seconds + 60).stdout
    finally:
        Path(script.name).unlink(missing_ok=True)
    line = next((x for x in out.splitlines() if x.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out[-2000:]}")
    data = json.loads(line.split(" ", 1)[1])
    bad = [x.split(" ", 1)[1] for x in out.splitlines() if x.startswith("BENCHBAD ")][:3]
    return LoadResult(data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1e3,
                      data["p99_us"] / 1e3, data["status_errors"] + data["socket_errors"], "wrk",
                      {"non-2xx": data["status_errors"], "socket": data["socket_errors"],
                       **({"answers": bad} if bad else {})},
                      {"p90": data["p90_us"] / 1e3, "p999": data["p999_us"] / 1e3,
                       "mean": data["mean_us"] / 1e3, "sd": data["stdev_us"] / 1e3})


def _threads(port, method, path, headers, body_format, run_id, connections, seconds, max_requests,
             keyed=False):
    """The same load from Python threads (slower client: figures are then a lower bound)."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    budget = [max_requests]

    def worker(tid: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        n, mine = 0, []
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            n += 1
            body = (body_format % (tid, n, run_id, tid, n)).encode()
            t0 = time.perf_counter()
            try:
                sent = dict(headers, **{"Idempotency-Key": f"{run_id}-{tid}-{n}"}) if keyed \
                    else headers
                conn.request(method, path, body=body, headers=sent)
                response = conn.getresponse()
                response.read()
                code = response.status
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection(HOST, port, timeout=10)
                code = 0
            mine.append((time.perf_counter() - t0, code))
        conn.close()
        with lock:
            for latency, code in mine:
                latencies.append(latency)
                statuses[code] = statuses.get(code, 0) + 1

    began = time.monotonic()
    pool = [threading.Thread(target=worker, args=(t + 1,)) for t in range(connections)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - began
    latencies.sort()
    errors = sum(n for code, n in statuses.items() if not 200 <= code < 300)
    spread = {"p90": _pct(latencies, 90) * 1e3, "p999": _pct(latencies, 99.9) * 1e3,
              "mean": statistics.fmean(latencies) * 1e3 if latencies else float("nan"),
              "sd": statistics.pstdev(latencies) * 1e3 if latencies else float("nan")}
    return LoadResult(len(latencies), elapsed, _pct(latencies, 50) * 1e3,
                      _pct(latencies, 99) * 1e3, errors, "python threads", statuses, spread)


def _pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p / 100))]


@dataclass
class Timings:
    seconds: list[float]
    statuses: dict
    bytes: int = 0
    lines: int = 0

    def pct(self, p: float) -> float:
        return _pct(sorted(self.seconds), p)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")

    @property
    def ok(self) -> bool:
        return bool(self.seconds) and set(self.statuses) == {200}


def sequential(port: int, path: str, headers: dict, count: int, max_seconds: float,
               warmup: int = 1) -> Timings:
    """GET `path` one after another on one keep-alive connection: `count` timed requests."""
    conn = http.client.HTTPConnection(HOST, port, timeout=max(max_seconds, 30))
    seconds, statuses, size, lines = [], {}, 0, 0
    deadline = time.monotonic() + max_seconds
    for i in range(warmup + count):
        if time.monotonic() > deadline and seconds:
            break
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        while chunk := response.read(1 << 16):
            size += len(chunk)
            lines += chunk.count(b"\n")
        elapsed = time.perf_counter() - t0
        if i >= warmup:
            seconds.append(elapsed)
            statuses[response.status] = statuses.get(response.status, 0) + 1
    conn.close()
    return Timings(seconds, statuses, size, lines)


def sign_in(port: int, email: str, password: str) -> dict:
    """Sign in through the real form (CSRF token and all); the Cookie header to send after."""
    import re
    from http.cookies import SimpleCookie
    from urllib.parse import urlencode

    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    conn.request("GET", "/sign-in")
    response = conn.getresponse()
    page = response.read().decode()
    jar = SimpleCookie()
    for value in response.headers.get_all("Set-Cookie") or []:
        jar.load(value)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or \
        re.search(r'value="([^"]+)"[^>]*name="csrf_token"', page)
    form = {"email": email, "password": password}
    if match:
        form["csrf_token"] = match.group(1)
    cookie = "; ".join(f"{k}={m.value}" for k, m in jar.items())
    conn.request("POST", "/sign-in", body=urlencode(form),
                 headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = conn.getresponse()
    response.read()
    for value in response.headers.get_all("Set-Cookie") or []:
        jar.load(value)
    conn.close()
    if response.status != 302:
        raise RuntimeError(f"sign-in as {email} answered {response.status}")
    return {"Cookie": "; ".join(f"{k}={m.value}" for k, m in jar.items())}
