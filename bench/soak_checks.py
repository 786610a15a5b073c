"""Soak, after the load: queue state, the database's invariants and the verdict."""
from __future__ import annotations

import time

from bench import pgload

QUEUES = ("sla", "default", "notifications", "imports")
RULES = (("give", "submitted", "percent", "10"), ("get", "submitted", "fixed", "10"),
         ("get", "mql", "fixed", "5"))  # the programs are MQL on arrival: 3 rewards per referral


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
            if job.func_name in ("referral_app.jobs.sla.sweep_at", "referral_app.jobs.sla.due"):
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
