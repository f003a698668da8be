"""map: open orders by point, for the live map's bbox feed

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

import core.db  # noqa: F401  (every revision imports it for UTCDateTime)


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

OPEN = "status NOT IN ('resolved', 'closed', 'cancelled')"


def upgrade():
    with op.batch_alter_table('repair_orders', schema=None) as batch_op:
        batch_op.create_index('ix_repair_orders_open_lon_lat', ['lon', 'lat'], unique=False,
                              postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))


def downgrade():
    with op.batch_alter_table('repair_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_repair_orders_open_lon_lat', postgresql_where=sa.text(OPEN),
                            sqlite_where=sa.text(OPEN))
