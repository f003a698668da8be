"""worker_heartbeats: each worker process's last sign of life, for /readyz

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa

import core.db  # noqa: F401  (every revision imports it for UTCDateTime)


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'worker_heartbeats',
        sa.Column('holder', sa.String(length=120), nullable=False),
        sa.Column('started_at', core.db.UTCDateTime(), nullable=False),
        sa.Column('seen_at', core.db.UTCDateTime(), nullable=False),
        sa.Column('interval_seconds', sa.Integer(), nullable=False),
        sa.Column('ticks', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('holder', name=op.f('pk_worker_heartbeats')),
    )


def downgrade():
    op.drop_table('worker_heartbeats')
