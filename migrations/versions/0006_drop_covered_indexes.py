"""leads, lead_events: drop two indexes that a wider one with the same leading columns covers

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 12:00:00

`ix_leads_owner_open` (owner_id, is_open) is the start of `ix_leads_queue` (owner_id,
is_open, sla_due_at, id), and `ix_lead_events_lead_id` (lead_id) the start of
`ix_lead_events_lead_stage_at` (lead_id, to_stage, at): every read either served is served
by the wider one, and each new lead and each of its events paid for one more index entry
(intake writes a lead and three events a referral).
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

DROPPED = (("leads", "ix_leads_owner_open", ["owner_id", "is_open"]),
           ("lead_events", "ix_lead_events_lead_id", ["lead_id"]))


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY: intake keeps writing leads and events meanwhile.
        with op.get_context().autocommit_block():
            for table, name, _ in DROPPED:
                op.drop_index(name, table_name=table, postgresql_concurrently=True)
        return
    for table, name, _ in DROPPED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)


def downgrade():
    for table, name, columns in DROPPED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)
