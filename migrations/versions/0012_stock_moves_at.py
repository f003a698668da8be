"""inventory_stock_moves (at, id): the ledger page lists moves newest first, a page at a time

Revision ID: 0012
Revises: 0011
"""
from alembic import op

import core.db  # noqa: F401  (every revision imports it for UTCDateTime)


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('inventory_stock_moves', schema=None) as batch_op:
        batch_op.create_index('ix_inventory_stock_moves_at', ['at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('inventory_stock_moves', schema=None) as batch_op:
        batch_op.drop_index('ix_inventory_stock_moves_at')
