"""What a run adds to the data set and removes afterwards: callers, scratch copies, cleanup."""
from __future__ import annotations

from dataclasses import dataclass, field

from bench import pgload
from referral_app.services.sla import WARN_SHARE

INTAKE_SLUG = "bench-intake"
INTAKE_REFERRER = "intake@bench.interlock"
SWEEP, SWEEP_REF, EXPORT = "bench_sweep", "bench_sweep_ref", "bench_export"


@dataclass
class Scenario:
    run_id: str
    program_id: int
    referrer_token: str
    marketing_email: str
    marketing_token: str
    rep_id: int
    rep_email: str
    rep_token: str
    rep_open_leads: int
    token_ids: list[int] = field(default_factory=list)


def prepare(app, run_id: str) -> Scenario:
    """The intake program and referrer, API tokens for a marketer and the busiest rep."""
    from sqlalchemy import func, select

    from referral_app.extensions import db
    from referral_app.models import ApiToken, Lead, Program, RewardRule, User

    with app.app_context():
        program = db.session.scalar(select(Program).where(Program.slug == INTAKE_SLUG))
        if program is None:
            # No velocity limits: one integration posting 1,000 referrals a second is the load.
            program = Program(name="Bench intake", slug=INTAKE_SLUG, product="Interlock CRM",
                              status="active", referrer_kinds=["customer"], velocity_per_hour=0,
                              velocity_per_ip=0, landing_headline="Bench", give_offer="20% off")
            program.rules.append(RewardRule(side="give", trigger="submitted", kind="percent",
                                            amount=20, currency="USD"))
            db.session.add(program)
        referrer = _user(db, User, INTAKE_REFERRER, "referrer", kind="customer")
        marketer = db.session.scalar(select(User).where(User.role == "marketing").order_by(User.id))
        rep_id, open_leads = db.session.execute(
            select(Lead.owner_id, func.count()).where(Lead.is_open.is_(True),
                                                      Lead.owner_id.is_not(None))
            .group_by(Lead.owner_id).order_by(func.count().desc()).limit(1)).one()
        rep = db.session.get(User, rep_id)
        tokens = {}
        for who in (referrer, marketer, rep):
            token, plain = ApiToken.issue(who, name=f"bench {run_id}")
            db.session.add(token)
            tokens[who.id] = (token, plain)
        db.session.commit()
        return Scenario(run_id, program.id, tokens[referrer.id][1], marketer.email,
                        tokens[marketer.id][1], rep.id, rep.email, tokens[rep.id][1], open_leads,
                        [t.id for t, _ in tokens.values()])


def _user(db, User, email, role, kind=None):
    from sqlalchemy import select
    from werkzeug.security import generate_password_hash

    from bench.world import PASSWORD

    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, role=role, kind=kind, name="Bench Intake",
                    password_hash=generate_password_hash(PASSWORD, method="scrypt"))
        db.session.add(user)
        db.session.flush()
    return user


def delete_tree(conn, table: str, where: str, depth: int = 0, touched: set | None = None) -> int:
    """DELETE rows of `table` matching `where`, after every row referencing them (FK walk);
    the tables it deleted from are added to `touched`."""
    if depth > 6:
        raise RuntimeError(f"foreign keys nest too deep below {table}")
    children = conn.execute(
        """SELECT cl.relname, a.attname, pa.attname
             FROM pg_constraint c
             JOIN pg_class cl ON cl.oid = c.conrelid
             JOIN pg_class pc ON pc.oid = c.confrelid
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1]
            WHERE c.contype = 'f' AND pc.relname = %s
              AND pc.relnamespace = current_schema()::regnamespace AND cl.relname <> %s""",
        (table, table)).fetchall()
    for child, column, parent_column in children:
        delete_tree(conn, child, f"{column} IN (SELECT {parent_column} FROM {table} WHERE {where})",
                    depth + 1, touched)
    deleted = conn.execute(f"DELETE FROM {table} WHERE {where}").rowcount
    if deleted and touched is not None:
        touched.add(table)
    return deleted


def cleanup(url: str, scenario: Scenario | None) -> None:
    """Remove what the run wrote: the intake program's referrals (and all below), tokens, scratch.
    Where autovacuum is off (as on CI machines), VACUUM what was deleted from and the reps
    whose turns intake took: otherwise every run leaves its rows as dead tuples in the tables
    and indexes the next run writes to, and intake measured ~2x slower after a few runs."""
    touched = {"users", "api_tokens", "refused_referrals"}
    with pgload.connect(url, autocommit=False) as conn:
        if scenario is not None:
            _delete_intake(conn, scenario, touched)
            conn.execute("DELETE FROM api_tokens WHERE id = ANY(%s)", (scenario.token_ids,))
        for schema in (SWEEP, SWEEP_REF, EXPORT):
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.commit()
    _vacuum(url, touched)


def forget_intake(url: str, scenario: Scenario) -> None:
    """Remove the referrals the intake loads wrote (tens of thousands, all today), so that
    the figures after intake measure the data set: the reports read today's rows live (the
    report days roll up the days before), and the reps' queues hold intake's leads."""
    touched = {"users", "refused_referrals"}
    with pgload.connect(url, autocommit=False) as conn:
        _delete_intake(conn, scenario, touched)
        conn.commit()
    _vacuum(url, touched)


def _delete_intake(conn, scenario: Scenario, touched: set) -> None:
    delete_tree(conn, "referrals", f"program_id = {int(scenario.program_id)}", touched=touched)
    conn.execute("DELETE FROM refused_referrals WHERE program_id = %s", (scenario.program_id,))
    # The keyed load's answers (figures._keyed), under the intake referrer's keys of this run.
    conn.execute("DELETE FROM idempotency_records WHERE user_id = (SELECT id FROM users "
                 "WHERE email = %s) AND key LIKE %s", (INTAKE_REFERRER, f"{scenario.run_id}%"))
    touched.add("idempotency_records")


def _vacuum(url: str, touched: set) -> None:
    with pgload.connect(url, autocommit=True) as conn:
        if conn.execute("SHOW autovacuum").fetchone()[0] == "off":
            conn.execute(f"VACUUM (ANALYZE) {', '.join(sorted(touched))}")


def sweep_tables(url: str, clocks: int, overdue_share: float = 0.1) -> None:
    """Two identical scratch copies of sla_clocks: `clocks` running clocks, 10% overdue.

    Clock rows hang off real leads, so the product's sweep (search_path bench_sweep,public)
    sees the real leads, users and outbox around its copy.
    """
    step = round(1 / overdue_share)
    with pgload.connect(url, autocommit=True) as conn:
        for schema in (SWEEP, SWEEP_REF):
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.execute(f"CREATE SCHEMA {schema}")
            conn.execute(f"CREATE TABLE {schema}.sla_clocks (LIKE public.sla_clocks INCLUDING ALL)")
        conn.execute(f"""CREATE TABLE {SWEEP}.pristine AS
            SELECT row_number() OVER (ORDER BY l.id) AS id, l.id AS lead_id,
                   'first_attempt'::varchar AS kind, l.agreement_id, l.owner_id,
                   'running'::varchar AS status, now() - interval '1 day' AS started_at,
                   CASE WHEN l.id % {step} = 0 THEN now() - (l.id % 1440) * interval '1 minute'
                        ELSE now() + interval '1 hour' + (l.id % 7200) * interval '1 minute'
                   END AS due_at
              FROM public.leads l ORDER BY l.id LIMIT {int(clocks)}""")


def reset_sweep(url: str, schema: str) -> int:
    """Refill one scratch copy from the pristine rows; VACUUM ANALYZE as a live table would be."""
    with pgload.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {schema}.sla_clocks")
        conn.execute(f"""INSERT INTO {schema}.sla_clocks
            (id, lead_id, kind, agreement_id, owner_id, status, started_at, due_at, warn_at)
            SELECT id, lead_id, kind, agreement_id, owner_id, status, started_at, due_at,
                   started_at + (due_at - started_at) * {WARN_SHARE}
              FROM {SWEEP}.pristine""")
        conn.execute(f"VACUUM ANALYZE {schema}.sla_clocks")
        conn.execute("CHECKPOINT")
        return conn.execute(f"SELECT count(*) FROM {schema}.sla_clocks").fetchone()[0]


def export_tables(url: str, big: int, small: int) -> tuple[int, int]:
    """A scratch rewards table holding payout batch 1 (`big` rows) and batch 2 (`small` rows)."""
    with pgload.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {EXPORT} CASCADE")
        conn.execute(f"CREATE SCHEMA {EXPORT}")
        for table in ("rewards", "payout_batches"):
            conn.execute(f"CREATE TABLE {EXPORT}.{table} (LIKE public.{table} INCLUDING ALL)")
        # Copies of real rows repeat (rule, referral) pairs: the copy keeps every index but
        # not the unique constraints (and coupon codes are NULL).
        for (name,) in conn.execute(
                "SELECT conname FROM pg_constraint WHERE contype = 'u' "
                f"AND conrelid = '{EXPORT}.rewards'::regclass").fetchall():
            conn.execute(f'ALTER TABLE {EXPORT}.rewards DROP CONSTRAINT "{name}"')
        for (name,) in conn.execute(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE indisunique AND NOT "
                f"indisprimary AND indrelid = '{EXPORT}.rewards'::regclass").fetchall():
            conn.execute(f"DROP INDEX {name}")
        conn.execute(f"""INSERT INTO {EXPORT}.payout_batches
            (id, period_start, period_end, created_by_id, created_at)
            SELECT b, now() - interval '30 days', now(), NULL, now() FROM generate_series(1, 2) b""")
        # Real referrals, referrers and programs, cycled: every row joins like a real payout.
        columns = [c for (c,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND table_name = 'rewards' ORDER BY ordinal_position").fetchall()]
        override = {"id": "g", "status": "'issued'", "coupon_code": "NULL", "issued_at": "now()",
                    "payout_batch_id": f"CASE WHEN g <= {int(big)} THEN 1 ELSE 2 END"}
        values = ", ".join(override.get(c, f"w.{c}") for c in columns)
        conn.execute(f"""INSERT INTO {EXPORT}.rewards ({", ".join(columns)})
            SELECT {values} FROM generate_series(1, {int(big + small)}) g
              JOIN LATERAL (SELECT * FROM public.rewards
                             WHERE id = 1 + (g::bigint * 7919) % (SELECT max(id) FROM public.rewards))
                   w ON true""")
        conn.execute(f"VACUUM ANALYZE {EXPORT}.rewards")
        counts = dict(conn.execute(
            f"SELECT payout_batch_id, count(*) FROM {EXPORT}.rewards GROUP BY 1").fetchall())
    return counts.get(1, 0), counts.get(2, 0)
