"""categories.service_minutes (how long a job of the category takes on site) and
field_resolution_codes.is_active (a code retired from the list, kept for the orders that name it)

Revision ID: 0013_category_admin
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

import core.db  # noqa: F401  (every revision imports it for UTCDateTime)


revision = '0013_category_admin'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('categories', schema=None) as batch_op:
        batch_op.add_column(sa.Column('service_minutes', sa.Integer(), nullable=False, server_default='60'))
        batch_op.create_check_constraint(op.f('ck_categories_service_minutes_range'), 'service_minutes >= 5 AND service_minutes <= 1440')
    with op.batch_alter_table('field_resolution_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('is_active', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade():
    with op.batch_alter_table('field_resolution_codes', schema=None) as batch_op:
        batch_op.drop_column('is_active')
    with op.batch_alter_table('categories', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_categories_service_minutes_range'), type_='check')
        batch_op.drop_column('service_minutes')
