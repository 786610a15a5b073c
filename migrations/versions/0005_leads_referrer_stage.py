"""leads: (referrer_id, stage) index, and the referrer of CSV-imported leads filled in

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 02:30:00

The CSV import's bulk path (COPY) left `leads.referrer_id` empty, which the ORM path copies
from the referral: the referrers report and the portal's "became customers" missed those
leads. They are filled in from their referral and marked touched, so the rolled-up report
days they count in are read live until the next periodic pass recomputes them.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BACKFILL = """
UPDATE leads SET referrer_id = (SELECT r.referrer_id FROM referrals r WHERE r.id = leads.referral_id),
                 touched_at = CURRENT_TIMESTAMP
WHERE referrer_id IS NULL AND referral_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM referrals r WHERE r.id = leads.referral_id AND r.referrer_id IS NOT NULL)
"""


def upgrade():
    op.execute(BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY: a live leads table keeps taking referrals while it builds.
        with op.get_context().autocommit_block():
            op.create_index('ix_leads_referrer_stage', 'leads', ['referrer_id', 'stage'],
                            postgresql_concurrently=True)
        return
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index('ix_leads_referrer_stage', ['referrer_id', 'stage'], unique=False)


def downgrade():
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('ix_leads_referrer_stage')
