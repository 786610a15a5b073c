"""The data generator at a tiny scale, in a schema of its own: the counts and invariants it promises."""
import psycopg
import pytest

from tests import services

LEADS = 2000


@pytest.fixture(scope="module")
def generated():
    url = services.postgres_url()
    if url is None:
        pytest.skip("PostgreSQL not reachable (TEST_DATABASE_URL): the generator needs it")
    from bench import pgload
    from bench.generate import generate, read_meta

    schema = f"{services.RUN_ID}_bench"
    try:
        rows = generate(LEADS, url, schema, seed=7, chunk=500, log=lambda *_: None)
        conn = pgload.connect(url, schema, autocommit=True)
        yield conn, rows, read_meta(url, schema)
        conn.close()
    finally:
        with pgload.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def one(conn, sql):
    return conn.execute(sql).fetchone()[0]


def test_counts_and_meta(generated):
    conn, rows, meta = generated
    assert one(conn, "SELECT count(*) FROM leads") == LEADS == rows["leads"]
    assert one(conn, "SELECT count(*) FROM referrals") == LEADS
    assert meta["leads"] == str(LEADS)
    events = one(conn, "SELECT count(*) FROM lead_events")
    assert 4.5 <= events / LEADS <= 5.5  # about five events per lead
    assert one(conn, "SELECT count(*) FROM attempts") > LEADS
    # Settled history: no follow-up looks lost to the recovery job.
    assert one(conn, "SELECT count(*) FROM lead_events WHERE processed_at IS NULL") == 0
    assert one(conn, "SELECT count(*) FROM referrals WHERE followed_up_at IS NULL") == 0
    # Leads carry their referral's referrer (the referrers report groups by it).
    assert one(conn, "SELECT count(*) FROM leads l JOIN referrals r ON r.id = l.referral_id "
                     "WHERE l.referrer_id IS DISTINCT FROM r.referrer_id") == 0
    for table in ("rewards", "reward_events", "purchases", "notifications", "sla_clocks",
                  "idempotency_records", "referral_codes", "payout_batches"):
        assert one(conn, f"SELECT count(*) FROM {table}") > 0, table


def test_every_stage_over_two_years(generated):
    conn, _, _ = generated
    stages = {s for (s,) in conn.execute("SELECT DISTINCT stage FROM leads").fetchall()}
    assert stages == {"new", "mql", "sql", "opportunity", "won", "lost", "rejected", "recycled"}
    days = one(conn, "SELECT extract(day FROM max(received_at) - min(received_at)) FROM leads")
    assert 700 <= days <= 731
    assert one(conn, "SELECT count(*) FROM leads WHERE is_open <> (stage IN "
                     "('new', 'mql', 'sql', 'opportunity'))") == 0


def test_ten_percent_overdue_running_clocks(generated):
    conn, _, _ = generated
    overdue = one(conn, "SELECT count(*) FROM sla_clocks WHERE kind = 'first_attempt' "
                        "AND status = 'running' AND due_at < now()")
    assert 0.08 <= overdue / LEADS <= 0.12
    # Only open leads owe anything, and the queue's urgency column agrees with their clocks.
    assert one(conn, "SELECT count(*) FROM sla_clocks c JOIN leads l ON l.id = c.lead_id "
                     "WHERE c.status = 'running' AND NOT l.is_open") == 0
    assert one(conn, """SELECT count(*) FROM leads l WHERE l.is_open AND l.sla_due_at IS DISTINCT
                        FROM (SELECT min(due_at) FROM sla_clocks c WHERE c.lead_id = l.id AND
                        c.met_at IS NULL AND c.status IN ('running', 'breached'))""") == 0


def test_constraints_were_rebuilt_and_hold(generated):
    conn, _, _ = generated
    kinds = dict(conn.execute(
        "SELECT contype, count(*) FROM pg_constraint WHERE connamespace = "
        "current_schema()::regnamespace GROUP BY contype").fetchall())
    assert kinds.get("f", 0) > 30 and kinds.get("u", 0) > 10
    names = {n for (n,) in conn.execute(
        "SELECT conname FROM pg_constraint WHERE connamespace = current_schema()::regnamespace")}
    assert {"uq_leads_open_email", "uq_rewards_rule_id_referral_id"} <= names
    assert one(conn, "SELECT count(*) FROM (SELECT email FROM leads WHERE is_open "
                     "GROUP BY email HAVING count(*) > 1) d") == 0
    # Some people were referred again after their first lead closed.
    assert one(conn, "SELECT count(*) FROM (SELECT email FROM leads GROUP BY email "
                     "HAVING count(*) > 1) d") > 0


def test_delete_tree_removes_dependants(generated):
    conn, _, _ = generated
    from bench.scenario import delete_tree

    ids = [i for (i,) in conn.execute("SELECT id FROM referrals ORDER BY id DESC LIMIT 3")]
    where = f"id IN ({', '.join(map(str, ids))})"
    with conn.transaction():
        assert delete_tree(conn, "referrals", where) == 3
        assert one(conn, f"SELECT count(*) FROM leads WHERE referral_id IN "
                         f"({', '.join(map(str, ids))})") == 0
        raise psycopg.Rollback()  # leave the data set as generated for the other tests
    assert one(conn, f"SELECT count(*) FROM referrals WHERE {where}") == 3
