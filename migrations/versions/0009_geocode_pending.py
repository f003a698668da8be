"""repair_orders.geocode_after/geocode_attempts: addresses are geocoded by a job, outside any transaction

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa

import core.db  # noqa: F401  (every revision imports it for UTCDateTime)


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('repair_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('geocode_attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('geocode_after', core.db.UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_repair_orders_geocode_after'), ['geocode_after'], unique=False)


def downgrade():
    with op.batch_alter_table('repair_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repair_orders_geocode_after'))
        batch_op.drop_column('geocode_after')
        batch_op.drop_column('geocode_attempts')
