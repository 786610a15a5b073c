"""Pieces of bench/run.py: gunicorn on loopback, the bounded load loops, the results table."""
import os
import sys

from bench import load, report
from bench.server import Gunicorn


def test_bare_app_under_gunicorn_and_bounded_load():
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    server = Gunicorn("bench.bare_app:app", env, 1, 2, "test-bare").start("/", timeout=60)
    try:
        body = '{"referee": {"name": "Load %d %d", "email": "load-%s-%d-%d@example.com"}}'
        result = load.concurrent(server.port, "POST", "/echo",
                                 {"Content-Type": "application/json"}, body, "t",
                                 connections=2, seconds=1, max_requests=400)
        assert 0 < result.requests <= 400 + 2 * 2  # wrk stops each thread at its share
        assert result.errors == 0
        assert result.p50_ms <= result.p99_ms
        timings = load.sequential(server.port, "/echo", {}, count=5, max_seconds=10)
        assert timings.ok and len(timings.seconds) == 5
        memory = server.memory()
        assert len(memory) == 1 and memory[0]["VmRSS"] > 1000  # kB, read from /proc
    finally:
        server.stop()
    assert server.proc.poll() is not None


def _post_to_bare(name: str, path: str, seconds: float, max_requests: int) -> load.LoadResult:
    """A bounded POST load on the bare app under a gunicorn of its own."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    server = Gunicorn("bench.bare_app:app", env, 1, 2, name).start("/")
    try:
        return load.concurrent(server.port, "POST", path, {}, "%d%d%s%d%d", "t",
                               connections=2, seconds=seconds, max_requests=max_requests)
    finally:
        server.stop()


def test_python_threads_fallback_counts_statuses(monkeypatch):
    monkeypatch.setattr(load.shutil, "which", lambda name: None)  # as on a machine without wrk
    result = _post_to_bare("test-threads", "/echo", 5, 50)
    assert result.tool == "python threads"
    assert result.requests == 50 and result.statuses == {201: 50} and result.errors == 0


def test_report_table_marks_missing_and_missed():
    figures = [report.missing("intake", "≥ 1,000/s", "POST /api/v1/referrals"),
               report.Figure("sweep", "1.5 s", "< 5 s", "raw 1.4 s", "1.07×", True),
               report.Figure("rss", "200 MB", "< 150 MB", ok=False, note="per worker: 200 MB")]
    text = report.render(figures, ["machine: test"])
    assert "n/a (not built yet: POST /api/v1/referrals)" in text
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(lines) == 4  # header + three figures
    assert "MISSED" in lines[3] and "met" in lines[2]
    assert "**rss**: per worker: 200 MB" in text


def test_calendar_figure_reuses_calendar_bench():
    sys.modules.pop("bench.calendar_bench", None)
    from bench import calendar_bench

    measured = calendar_bench.measure(300, seed=3)
    assert measured["cases"] == 300
    assert measured["mismatches"] == [] and measured["not_inverse"] == 0
    assert measured["t_pandas"] > 0 and measured["t_warm"] > 0


def test_calendar_counts_each_chunks_fastest_round_on_both_sides(monkeypatch):
    """A chunk slowed by other work in one round (here: the first) counts at its other
    round's time, ours and pandas alike."""
    from bench import calendar_bench

    clock = {"now": 0.0, "round": 0}
    monkeypatch.setattr(calendar_bench.time, "perf_counter", lambda: clock["now"])
    monkeypatch.setattr(calendar_bench, "CHUNK", 2)

    class Calendar:
        def add(self, start, delta):
            clock["now"] += 3.0 if clock["round"] == 0 else 1.0

    class Offset:
        def __radd__(self, ts):
            clock["now"] += 50.0 if clock["round"] == 0 else 20.0
            if ts == 3:  # pandas' last case of a round: the next round is quieter
                clock["round"] += 1

    ours, theirs = calendar_bench._interleaved(Calendar(), [0, 1, 2, 3], [None] * 4,
                                               [(i, Offset()) for i in range(4)], rounds=2)
    assert (ours, theirs) == (4.0, 80.0)


def test_reports_alone_bring_the_report_days_pass():
    from bench.run import parse

    assert parse(["--only", "reports"]).only == ["rollup", "reports"]
    assert parse(["--only", "intake", "rollup", "reports"]).only == ["intake", "rollup", "reports"]
    assert parse(["--only", "intake"]).only == ["intake"]
    assert parse([]).only is None


def test_wrk_load_says_what_error_answers_said():
    """An error answer's status and body reach the figure's note (wrk counts them only)."""
    result = _post_to_bare("test-errors", "/no-such-path", 1, 20)
    assert result.errors == result.requests > 0
    if result.tool == "wrk":
        assert result.statuses["non-2xx"] == result.requests and result.statuses["socket"] == 0
        assert 1 <= len(result.statuses["answers"]) <= 3
        assert result.statuses["answers"][0].startswith("404 ")
    else:  # without wrk the threads fallback keeps every status
        assert result.statuses == {404: result.requests}
