"""Build a realistic Interlock data set on PostgreSQL at a given scale, with COPY.

Usage: python bench/generate.py [--leads 1000000] [--seed 1] [--database-url URL] [--schema S]

Programs, referrers, reps and leads at every stage over two years, about 5 stage/assign events
per lead, attempts, SLA clocks (10% of the leads are "neglected": never worked, their running
clocks already overdue — the sweep's backlog), rewards with their events, purchases, outbox
rows and idempotency records. The schema comes from the models (db.create_all on a freshly
recreated schema); rows are COPYed into bare tables whose indexes and constraints are rebuilt
afterwards, which also proves every unique and foreign-key constraint holds. Ends with
VACUUM ANALYZE and a `bench_meta` row describing the data set.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` and the app importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import pgload  # noqa: E402
from bench.history import Chunk  # noqa: E402
from bench.world import PASSWORD, SPAN_DAYS, World  # noqa: E402

GENERATOR_VERSION = 4
COLUMNS = {
    "calendars": "id name timezone hours holidays country",
    "users": "id email name role kind company product manager_id password_hash active away "
             "failed_logins locked_until last_assigned_at created_at",
    "agreements": "id product version status calendar_id first_attempt_hours first_attempt_clock "
                  "max_attempts attempt_window_days decision_hours auto_reassign "
                  "monthly_qualified_leads min_acceptance_rate review_cadence_days notes "
                  "created_by_id created_at effective_at",
    "mql_definitions": "id product threshold sql_checklist",
    "scoring_rules": "id definition_id field operator value points",
    "rejection_reasons": "id kind label active",
    "programs": "id name slug product status referrer_kinds share_message landing_headline "
                "landing_body give_offer attribution_window_days velocity_per_hour velocity_per_ip "
                "block_same_domain mql_on_arrival coupon_format created_by_id created_at updated_at",
    "reward_rules": "id program_id side trigger kind amount currency cap_per_referrer tiers "
                    "hold_days requires_approval active",
    "referral_codes": "id code program_id referrer_id visits submissions created_at",
    "payout_batches": "id period_start period_end created_by_id created_at",
    "webhook_subscriptions": "id url events secret active created_at",
    "referrals": "id program_id referrer_id code_id source status hold_reasons referee_name "
                 "referee_email referee_company referee_phone referee_title referee_country "
                 "company_size deal_value note consent_at consent_withdrawn_at ip fingerprint "
                 "created_at followed_up_at",
    "leads": "id referral_id program_id product agreement_id owner_id stage is_open email "
             "open_email score score_rules sql_checklist amount close_reason received_at "
             "assigned_at first_attempt_at closed_at updated_at sla_due_at stages_entered "
             "referrer_id",
    "lead_events": "id lead_id kind from_stage to_stage actor_id reason data at processed_at",
    "attempts": "id lead_id user_id channel outcome note at",
    "sla_clocks": "id lead_id kind agreement_id owner_id status started_at due_at met_at "
                  "breached_at warn_at warned_at handled_at business_seconds",
    "rewards": "id rule_id referral_id program_id referrer_id side trigger status kind amount "
               "currency "
               "reason hold_reasons coupon_code payout_batch_id issuable_at created_at "
               "approved_at issued_at",
    "reward_events": "id reward_id from_status to_status actor_id reason at",
    "purchases": "id external_id email amount currency purchased_at referral_code referral_id "
                 "matched_by status refunded_at created_at",
    "notifications": "id user_id email kind subject body data dedupe_key status attempts "
                     "created_at sent_at read_at",
    "idempotency_records": "id user_id key request_hash status_code response created_at",
    "webhook_deliveries": "id subscription_id event payload dedupe_key status attempts "
                          "response_code last_error created_at delivered_at",
}
# Derived counters, set in one statement each once the rows are in.
POST_LOAD = [
    """UPDATE referral_codes c SET submissions = s.n, visits = s.n * 3 + c.id % 7
         FROM (SELECT code_id, count(*) AS n FROM referrals WHERE code_id IS NOT NULL
               GROUP BY code_id) s WHERE s.code_id = c.id""",
    """UPDATE users u SET last_assigned_at = s.at
         FROM (SELECT owner_id, max(assigned_at) AS at FROM leads GROUP BY owner_id) s
        WHERE s.owner_id = u.id""",
]
META = "CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text NOT NULL)"


def received_at(world: World, i: int, n: int) -> float:
    """Arrival of the i-th of n leads: ids ascend with time; twice as many a day at the end."""
    u = (i + world.rng.random()) / n
    return world.start + (math.sqrt(1 + 3 * u) - 1) * SPAN_DAYS * 86400.0 - 60


def schema_fingerprint() -> str:
    """A digest of the models' tables, columns and indexes: a data set built from other
    models is rebuilt rather than benchmarked with yesterday's indexes."""
    import hashlib

    from referral_app import models  # noqa: F401
    from referral_app.extensions import db

    parts = []
    for table in sorted(db.metadata.tables.values(), key=lambda t: t.name):
        parts.append(table.name + ":" + ",".join(f"{c.name} {c.type}" for c in table.columns))
        parts += sorted(f"{i.name}({','.join(c.name for c in i.columns)})" for i in table.indexes)
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:12]


def generate(leads: int, url: str = pgload.DEFAULT_URL, schema: str = "public", seed: int = 1,
             chunk: int = 20_000, log=print) -> dict[str, int]:
    """Recreate `schema` with a data set of `leads` leads; returns the rows per table."""
    from werkzeug.security import generate_password_hash

    from referral_app.extensions import db

    pgload.guard(url, schema)
    pgload.ensure_database(url)
    began = time.monotonic()
    pgload.create_schema(url, schema)
    with pgload.connect(url, schema, autocommit=True) as conn:
        restore = pgload.detach_indexes(conn)
    now = float(int(time.time()) // 60 * 60)
    world = World(leads, seed, now, generate_password_hash(PASSWORD, method="scrypt"))
    specs = {name: pgload.TableSpec(db.metadata.tables[name], tuple(cols.split()))
             for name, cols in COLUMNS.items()}
    writer = pgload.CopyWriter(url, schema, list(specs))
    try:
        for table, lines in world.rows.items():
            writer.put(specs[table], lines)
        ids: dict[str, int] = {}
        for first in range(0, leads, chunk):
            batch = Chunk(world, ids)
            for i in range(first, min(first + chunk, leads)):
                batch.lead(i + 1, received_at(world, i, leads))
            for table, lines in batch.finish().items():
                writer.put(specs[table], lines)
            if first and first // chunk % 10 == 0:
                log(f"  {first:,} leads generated ({time.monotonic() - began:.0f} s)")
    finally:
        writer.close()
    log(f"  rows loaded in {time.monotonic() - began:.0f} s; rebuilding indexes")
    with pgload.connect(url, schema, autocommit=True) as conn:
        for sql in POST_LOAD:
            conn.execute(sql)
    pgload.finish(url, schema, restore, log=log)
    with pgload.connect(url, schema, autocommit=True) as conn:
        conn.execute(META)
        meta = {"leads": leads, "seed": seed, "version": GENERATOR_VERSION,
                "schema": schema_fingerprint(),
                "now": datetime.fromtimestamp(now, UTC).isoformat(),
                "seconds": round(time.monotonic() - began)}
        for key, value in meta.items():
            conn.execute("INSERT INTO bench_meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE "
                         "SET value = EXCLUDED.value", (key, str(value)))
    log(f"  done in {time.monotonic() - began:.0f} s")
    return dict(writer.rows)


def read_meta(url: str, schema: str = "public") -> dict[str, str]:
    """What the last generation into `schema` says about itself ({} when none finished)."""
    import psycopg

    try:
        with pgload.connect(url, schema, autocommit=True) as conn:
            return dict(conn.execute("SELECT key, value FROM bench_meta").fetchall())
    except psycopg.Error:
        return {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 pgload.DEFAULT_URL))
    parser.add_argument("--schema", default="public")
    parser.add_argument("--chunk", type=int, default=20_000, help="leads per COPY batch")
    args = parser.parse_args(argv)
    print(f"generating {args.leads:,} leads into {pgload.database_name(args.database_url)}"
          f" (schema {args.schema})")
    rows = generate(args.leads, args.database_url, args.schema, args.seed, args.chunk)
    for table, n in sorted(rows.items(), key=lambda kv: -kv[1]):
        print(f"  {table:<22} {n:>12,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
