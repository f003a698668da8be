"""order_events.recorded_at: an event keeps the time its action was taken (at) and the time the server
recorded it (recorded_at); they differ for an action a technician took offline and the phone sent later.
field_resolution_codes: the resolution codes a technician picks from, per job category.

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa

import core.db  # noqa: F401  (every revision imports it for UTCDateTime)


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recorded_at', core.db.UTCDateTime(), nullable=True))
    # every event so far was recorded when it was taken
    op.execute("UPDATE order_events SET recorded_at = at")
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.alter_column('recorded_at', existing_type=core.db.UTCDateTime(), nullable=False)
    op.create_table('field_resolution_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('category_code', sa.String(length=40), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('name_zh', sa.String(length=120), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_field_resolution_codes')),
    sa.UniqueConstraint('category_code', 'code', name=op.f('uq_field_resolution_codes_category_code_code'))
    )
    with op.batch_alter_table('field_resolution_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_field_resolution_codes_category_code'), ['category_code'], unique=False)


def downgrade():
    with op.batch_alter_table('field_resolution_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_field_resolution_codes_category_code'))
    op.drop_table('field_resolution_codes')
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.drop_column('recorded_at')
