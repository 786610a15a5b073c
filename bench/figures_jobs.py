"""The jobs figure: a rewards job's CPU on Interlock's worker against the plain `rq worker`."""
from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

from bench import pgload
from bench.figures import Ctx
from bench.report import Figure
from bench.server import ROOT

JOB = "referral_app.jobs.rewards.referral_submitted"  # one per referral: the busiest job
INTERLOCK = ["--worker-class", "referral_app.jobs.worker.InterlockWorker"]


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _burst(ctx: Ctx, worker_class: list[str], ids: list[int]) -> tuple[float, float, int]:
    """Enqueue the job for `ids` on a queue of its own, empty it with one `rq worker --burst`;
    (wall seconds, CPU seconds of the worker and its work-horses, jobs finished)."""
    from redis import Redis
    from rq import Queue
    from rq.job import JobStatus

    redis_url = ctx.product.env["REDIS_URL"]
    queue = Queue(f"bench-jobs-{ctx.scenario.run_id}", connection=Redis.from_url(redis_url))
    jobs = [queue.enqueue(JOB, referral_id) for referral_id in ids]
    rq = str(Path(sys.executable).with_name("rq"))
    cpu, began = _children_cpu(), time.monotonic()
    subprocess.run([rq, "worker", "--burst", "--quiet", "--url", redis_url, *worker_class,
                    queue.name], env=ctx.product.env, cwd=ROOT, check=True, capture_output=True,
                   timeout=60 + 5 * len(ids))
    wall, cpu = time.monotonic() - began, _children_cpu() - cpu
    finished = sum(job.get_status(refresh=True) == JobStatus.FINISHED for job in jobs)
    queue.delete(delete_jobs=True)
    return wall, cpu, finished


def _per_job(ctx: Ctx, worker_class: list[str], ids: list[int]) -> tuple[float, float, int]:
    """CPU seconds per job with the worker's own start (an empty burst) taken out."""
    _, start_cpu, _ = _burst(ctx, worker_class, [])
    wall, cpu, finished = _burst(ctx, worker_class, ids)
    return max(cpu - start_cpu, 0.0) / max(len(ids), 1), wall, finished


def jobs(ctx: Ctx) -> list[Figure]:
    fast, plain = (20, 3) if ctx.smoke else (200, 10)
    # The newest referrals: the intake figure's, whose rewards jobs no worker has run yet.
    with pgload.connect(ctx.url, autocommit=True) as conn:
        ids = [row[0] for row in conn.execute(
            "SELECT id FROM referrals ORDER BY id DESC LIMIT %s", (fast + plain,))]
    ours, ours_wall, ours_done = _per_job(ctx, INTERLOCK, ids[:fast])
    theirs, theirs_wall, theirs_done = _per_job(ctx, [], ids[fast:])
    note = (f"{ours_done}/{fast} jobs finished in {ours_wall:.1f} s on one InterlockWorker "
            f"(its start taken out of the CPU, not of the time); plain `rq worker` (a fresh app "
            f"in a work-horse per job): {theirs_done}/{len(ids) - fast} in {theirs_wall:.1f} s")
    return [Figure("rewards job on the worker, CPU per job", f"{ours * 1000:.1f} ms",
                   "-", f"plain rq worker {theirs * 1000:,.0f} ms",
                   f"{theirs / ours:.0f}× less" if ours else "",
                   None if ours_done == fast and theirs_done == len(ids) - fast else False,
                   note)]
