"""`make bench-smoke` end to end (10,000 leads, short loads): it keeps working, not how fast."""
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests import services

ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke_measures_every_figure():
    url = services.postgres_url()
    if url is None:
        pytest.skip("PostgreSQL not reachable (TEST_DATABASE_URL): the benchmark needs it")
    # The benchmark's own database on the test server, never the suite's `test` database.
    database = urlunsplit(urlsplit(url)._replace(path="/interlock_bench_smoke"))
    env = dict(os.environ, BENCH_DATABASE_URL=database, PYTHONUNBUFFERED="1")
    done = subprocess.run([sys.executable, "bench/run.py", "--smoke", "--seconds", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = (ROOT / "bench" / "results" / "latest-smoke.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    names = [row.split("|")[1].strip() for row in rows[1:]]
    for figure in ("intake POST /api/v1/referrals, 32 conns", "intake CPU per referral, "
                   "all processes", "queue page GET /queue/ p95", "interlock pack page (2 years)",
                   "rewards job on the worker, CPU per job", "web worker RSS after the run"):
        assert figure in names, names
    # Every figure was measured: none failed, none is missing a part of the app.
    assert not [row for row in rows if "error:" in row or "n/a" in row], table
    # Every rewards job ran, on both workers.
    assert "MISSED" not in next(row for row in rows if "rewards job" in row), table
    # The CPU accounting saw the web workers, the writer and the database do intake's work.
    cpu = re.search(r"intake CPU per referral, all processes\*\*: web ([\d.]+) ms, "
                    r"writer ([\d.]+) ms, postgres ([\d.]+) ms", table)
    assert cpu and all(float(part) > 0 for part in cpu.groups()), table
    # Intake ran through a `flask intake-writer` process and every referral was answered
    # and stored (stored can exceed answered: wrk stops with some requests in flight).
    assert "+ 1 intake writer process(es)" in table, table
    load = re.search(r"([\d,]+) requests in [\d.]+ s, 0 errors, ([\d,]+) referrals stored",
                     table)
    assert load and 0 < int(load[1].replace(",", "")) <= int(load[2].replace(",", "")), table
    # The keyed load: each request its own key, each answer stored under it.
    keyed = re.search(r"\*\*intake with an Idempotency-Key each, 32 conns\*\*: .*?([\d,]+) "
                      r"requests, 0 errors, ([\d,]+) answers stored", table)
    assert keyed and 0 < int(keyed[1].replace(",", "")) <= int(keyed[2].replace(",", "")), table
