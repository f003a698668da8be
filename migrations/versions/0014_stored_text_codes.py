"""Stored text as codes: placement reasons and alerts keep a message code and its parameters
(shown in the reader's language); inventory items get a Chinese name

Order events keep their code inside `data`, which is JSON already. Rows written before keep only
their text, which is what they show (core.messages falls back to it).

Revision ID: 0014_stored_text_codes
Revises: 0013_category_admin
"""
import sqlalchemy as sa
from alembic import op

import core.db  # noqa: F401  (every revision imports it for UTCDateTime)


revision = '0014_stored_text_codes'
down_revision = '0013_category_admin'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('repair_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('placement_code', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('placement_params', sa.JSON(), nullable=True))
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_code', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))
    with op.batch_alter_table('inventory_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_zh', sa.String(length=120), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('inventory_items', schema=None) as batch_op:
        batch_op.drop_column('name_zh')
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('params')
        batch_op.drop_column('message_code')
    with op.batch_alter_table('repair_orders', schema=None) as batch_op:
        batch_op.drop_column('placement_params')
        batch_op.drop_column('placement_code')
