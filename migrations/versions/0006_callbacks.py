"""callbacks and scorecards

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa

import core.db


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'callbacks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('order_id', sa.Integer(), nullable=False),
        sa.Column('resolved_at', core.db.UTCDateTime(), nullable=False),
        sa.Column('due_at', core.db.UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_attempt_at', core.db.UTCDateTime(), nullable=True),
        sa.Column('channel', sa.String(length=8), nullable=True),
        sa.Column('reached', sa.Boolean(), nullable=True),
        sa.Column('fixed', sa.Boolean(), nullable=True),
        sa.Column('appointment_made', sa.Boolean(), nullable=True),
        sa.Column('on_time', sa.Boolean(), nullable=True),
        sa.Column('guided', sa.Boolean(), nullable=True),
        sa.Column('satisfaction', sa.Integer(), nullable=True),
        sa.Column('comment', sa.String(length=1000), nullable=False),
        sa.Column('is_unhappy', sa.Boolean(), nullable=False),
        sa.Column('follow_up', sa.String(length=20), nullable=True),
        sa.Column('follow_up_order_id', sa.Integer(), nullable=True),
        sa.Column('answered_at', core.db.UTCDateTime(), nullable=True),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('token_hash', sa.String(length=64), nullable=True),
        sa.Column('token_expires_at', core.db.UTCDateTime(), nullable=True),
        sa.Column('token_issued_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', core.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'answered', 'unreachable')", name=op.f('ck_callbacks_status_known')),
        sa.CheckConstraint("channel IS NULL OR channel IN ('phone', 'link')", name=op.f('ck_callbacks_channel_known')),
        sa.CheckConstraint("follow_up IS NULL OR follow_up IN ('reopened', 'complaint_visit')",
                           name=op.f('ck_callbacks_follow_up_known')),
        sa.CheckConstraint('satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5',
                           name=op.f('ck_callbacks_satisfaction_range')),
        sa.CheckConstraint('attempts >= 0', name=op.f('ck_callbacks_attempts_not_negative')),
        sa.CheckConstraint("status <> 'answered' OR (reached AND satisfaction IS NOT NULL AND answered_at IS NOT NULL)",
                           name=op.f('ck_callbacks_answered_is_complete')),
        sa.ForeignKeyConstraint(['order_id'], ['repair_orders.id'], name=op.f('fk_callbacks_order_id_repair_orders'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['follow_up_order_id'], ['repair_orders.id'],
                                name=op.f('fk_callbacks_follow_up_order_id_repair_orders'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_callbacks_actor_id_users')),
        sa.ForeignKeyConstraint(['token_issued_by_id'], ['users.id'], name=op.f('fk_callbacks_token_issued_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_callbacks')),
        sa.UniqueConstraint('order_id', 'resolved_at', name=op.f('uq_callbacks_order_id_resolved_at')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_callbacks_token_hash')),
    )
    op.create_index('ix_callbacks_status_answered_at', 'callbacks', ['status', 'answered_at'], unique=False)
    op.create_index('ix_callbacks_status_last_attempt_at', 'callbacks', ['status', 'last_attempt_at'], unique=False)
    # scorecards: orders by report and resolution time, a customer's orders by time, escalations by time
    op.create_index('ix_repair_orders_reported_at', 'repair_orders', ['reported_at'], unique=False)
    op.create_index('ix_repair_orders_resolved_at', 'repair_orders', ['resolved_at'], unique=False)
    op.create_index('ix_repair_orders_customer_reported', 'repair_orders', ['customer_id', 'reported_at'], unique=False)
    op.create_index('ix_order_events_type_at', 'order_events', ['type', 'at'], unique=False)


def downgrade():
    op.drop_index('ix_order_events_type_at', table_name='order_events')
    op.drop_index('ix_repair_orders_customer_reported', table_name='repair_orders')
    op.drop_index('ix_repair_orders_resolved_at', table_name='repair_orders')
    op.drop_index('ix_repair_orders_reported_at', table_name='repair_orders')
    op.drop_index('ix_callbacks_status_last_attempt_at', table_name='callbacks')
    op.drop_index('ix_callbacks_status_answered_at', table_name='callbacks')
    op.drop_table('callbacks')
