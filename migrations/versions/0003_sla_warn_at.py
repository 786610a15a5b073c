"""sla_clocks.warn_at: the early warning is found by the minute sweep, not a scheduled job

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 20:20:00

Clocks already running keep the warning job scheduled for them (warn_at stays NULL, which
the sweep ignores); clocks started from now on store their warning point.
"""
from alembic import op
import sqlalchemy as sa
import referral_app.models.base

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

UNWARNED = "status = 'running' AND warned_at IS NULL"


def upgrade():
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warn_at', referral_app.models.base.UTCDateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY: a live sla_clocks table keeps taking clocks while it builds.
        with op.get_context().autocommit_block():
            op.create_index('ix_sla_clocks_warn', 'sla_clocks', ['warn_at'],
                            postgresql_where=sa.text(UNWARNED), postgresql_concurrently=True)
        return
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.create_index('ix_sla_clocks_warn', ['warn_at'], unique=False,
                              sqlite_where=sa.text(UNWARNED))


def downgrade():
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_clocks_warn', postgresql_where=sa.text(UNWARNED),
                            sqlite_where=sa.text(UNWARNED))
        batch_op.drop_column('warn_at')
