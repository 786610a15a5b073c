"""referrals: (referrer_id, created_at) and (ip, created_at) replace the one-column indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 21:00:00

The velocity holds count a referrer's last hour and an address's last day at every intake;
on created_at alone that scan grows with everyone's referrals, on these with one sender's.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY: a live referrals table keeps taking referrals while they build.
        with op.get_context().autocommit_block():
            op.create_index('ix_referrals_referrer_created', 'referrals',
                            ['referrer_id', 'created_at'], postgresql_concurrently=True)
            op.create_index('ix_referrals_ip_created', 'referrals', ['ip', 'created_at'],
                            postgresql_concurrently=True)
            op.drop_index('ix_referrals_referrer_id', 'referrals', postgresql_concurrently=True)
            op.drop_index('ix_referrals_ip', 'referrals', postgresql_concurrently=True)
        return
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_referrer_created', ['referrer_id', 'created_at'], unique=False)
        batch_op.create_index('ix_referrals_ip_created', ['ip', 'created_at'], unique=False)
        batch_op.drop_index('ix_referrals_referrer_id')
        batch_op.drop_index('ix_referrals_ip')


def downgrade():
    with op.batch_alter_table('referrals', schema=None) as batch_op:
        batch_op.create_index('ix_referrals_ip', ['ip'], unique=False)
        batch_op.create_index('ix_referrals_referrer_id', ['referrer_id'], unique=False)
        batch_op.drop_index('ix_referrals_ip_created')
        batch_op.drop_index('ix_referrals_referrer_created')
