"""dispatch: repair orders, their timeline, categories, SLA policies, technician duty; idempotency records

Revision ID: 0003
Revises: 0002

Reference data (categories, SLA policies) is seeded by dispatch.orders.services.ensure_reference_data(),
not here. `idempotency_records` belongs to core/idempotency.py (first used by the order API).
"""
from alembic import op
import sqlalchemy as sa

import core.db


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('categories',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('name_zh', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('service_line', sa.String(length=20), nullable=False),
    sa.Column('skill', sa.String(length=40), nullable=False),
    sa.Column('weight', sa.Double(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.CheckConstraint("kind IN ('fault', 'installation', 'relocation', 'complaint_visit')", name=op.f('ck_categories_kind_known')),
    sa.CheckConstraint("service_line IN ('cable_tv', 'digital_tv', 'broadband')", name=op.f('ck_categories_service_line_known')),
    sa.CheckConstraint('weight > 0 AND weight <= 5', name=op.f('ck_categories_weight_range')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_categories')),
    sa.UniqueConstraint('code', name=op.f('uq_categories_code'))
    )
    op.create_table('idempotency_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('in_progress', 'done')", name=op.f('ck_idempotency_records_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_records')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotency_records_user_id_key'))
    )
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_records_created_at'), ['created_at'], unique=False)

    op.create_table('sla_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('segment', sa.String(length=20), nullable=True),
    sa.Column('restore_hours', sa.Double(), nullable=False),
    sa.Column('warning_lead_hours', sa.Double(), nullable=False),
    sa.Column('escalation_step_hours', sa.Double(), nullable=False),
    sa.Column('wait_parts_pauses', sa.Boolean(), nullable=False),
    sa.CheckConstraint("kind IN ('fault', 'installation', 'relocation', 'complaint_visit')", name=op.f('ck_sla_policies_kind_known')),
    sa.CheckConstraint('restore_hours > 0 AND warning_lead_hours >= 0 AND escalation_step_hours > 0', name=op.f('ck_sla_policies_hours_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_policies')),
    sa.UniqueConstraint('kind', 'segment', name=op.f('uq_sla_policies_kind_segment'))
    )
    op.create_table('repair_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=24), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('category_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('needs_location', sa.Boolean(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=True),
    sa.Column('placement_reason', sa.String(length=120), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=True),
    sa.Column('candidates', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reported_at', core.db.UTCDateTime(), nullable=False),
    sa.Column('deadline_at', core.db.UTCDateTime(), nullable=False),
    sa.Column('warn_at', core.db.UTCDateTime(), nullable=False),
    sa.Column('paused_at', core.db.UTCDateTime(), nullable=True),
    sa.Column('paused_seconds', sa.Integer(), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('resolution_code', sa.String(length=40), nullable=True),
    sa.Column('resolution', sa.JSON(), nullable=False),
    sa.Column('is_repeat', sa.Boolean(), nullable=False),
    sa.Column('weight', sa.Double(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=True),
    sa.Column('assigned_at', core.db.UTCDateTime(), nullable=True),
    sa.Column('accepted_at', core.db.UTCDateTime(), nullable=True),
    sa.Column('departed_at', core.db.UTCDateTime(), nullable=True),
    sa.Column('arrived_at', core.db.UTCDateTime(), nullable=True),
    sa.Column('resolved_at', core.db.UTCDateTime(), nullable=True),
    sa.Column('closed_at', core.db.UTCDateTime(), nullable=True),
    sa.Column('cancelled_at', core.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', core.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.CheckConstraint("channel IN ('hotline', 'counter', 'web', 'open311', 'api', 'import')", name=op.f('ck_repair_orders_channel_known')),
    sa.CheckConstraint("kind IN ('fault', 'installation', 'relocation', 'complaint_visit')", name=op.f('ck_repair_orders_kind_known')),
    sa.CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name=op.f('ck_repair_orders_priority_known')),
    sa.CheckConstraint("status IN ('new', 'assigned', 'accepted', 'en_route', 'on_site', 'waiting_customer', 'waiting_parts', 'resolved', 'closed', 'cancelled')", name=op.f('ck_repair_orders_status_known')),
    sa.CheckConstraint("status IN ('new', 'cancelled') OR technician_id IS NOT NULL", name=op.f('ck_repair_orders_working_orders_have_technician')),
    sa.CheckConstraint('(lat IS NULL AND lon IS NULL) OR (lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180)', name=op.f('ck_repair_orders_point_in_range')),
    sa.CheckConstraint('deadline_at >= reported_at', name=op.f('ck_repair_orders_deadline_after_report')),
    sa.CheckConstraint('needs_location OR lat IS NOT NULL', name=op.f('ck_repair_orders_located_or_flagged')),
    sa.CheckConstraint('technician_id IS NULL OR station_id IS NOT NULL', name=op.f('ck_repair_orders_technician_has_station')),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_repair_orders_category_id_categories')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_repair_orders_customer_id_customers')),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_repair_orders_station_id_stations')),
    sa.ForeignKeyConstraint(['technician_id'], ['users.id'], name=op.f('fk_repair_orders_technician_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_repair_orders')),
    sa.UniqueConstraint('number', name=op.f('uq_repair_orders_number'))
    )
    with op.batch_alter_table('repair_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_repair_orders_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_repair_orders_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_repair_orders_open_deadline', ['deadline_at'], unique=False, postgresql_where=sa.text("status NOT IN ('resolved', 'closed', 'cancelled')"), sqlite_where=sa.text("status NOT IN ('resolved', 'closed', 'cancelled')"))
        batch_op.create_index(batch_op.f('ix_repair_orders_station_id'), ['station_id'], unique=False)
        batch_op.create_index('ix_repair_orders_status_station', ['status', 'station_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_repair_orders_technician_id'), ['technician_id'], unique=False)

    op.create_table('technician_duty',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('on_duty', sa.Boolean(), nullable=False),
    sa.Column('shift', sa.String(length=10), nullable=True),
    sa.Column('last_lat', sa.Double(), nullable=True),
    sa.Column('last_lon', sa.Double(), nullable=True),
    sa.Column('last_at', core.db.UTCDateTime(), nullable=True),
    sa.Column('updated_at', core.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint("shift IS NULL OR shift IN ('day', 'evening', 'night')", name=op.f('ck_technician_duty_shift_known')),
    sa.CheckConstraint('(last_lat IS NULL AND last_lon IS NULL) OR (last_lat BETWEEN -90 AND 90 AND last_lon BETWEEN -180 AND 180)', name=op.f('ck_technician_duty_point_in_range')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_technician_duty_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_technician_duty'))
    )
    op.create_table('order_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('at', core.db.UTCDateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=False),
    sa.Column('lat', sa.Double(), nullable=True),
    sa.Column('lon', sa.Double(), nullable=True),
    sa.Column('from_status', sa.String(length=20), nullable=True),
    sa.Column('to_status', sa.String(length=20), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.CheckConstraint("type IN ('created', 'assigned', 'reassigned', 'accepted', 'declined', 'departed', 'arrived', 'waiting_customer', 'waiting_parts', 'resumed', 'resolved', 'closed', 'reopened', 'cancelled', 'deadline_warning', 'escalated', 'incident_linked', 'callback', 'notified', 'located', 'note')", name=op.f('ck_order_events_type_known')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_order_events_actor_id_users')),
    sa.ForeignKeyConstraint(['order_id'], ['repair_orders.id'], name=op.f('fk_order_events_order_id_repair_orders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_events'))
    )
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_events_order_id'), ['order_id'], unique=False)



def downgrade():
    with op.batch_alter_table('order_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_events_order_id'))

    op.drop_table('order_events')
    op.drop_table('technician_duty')
    with op.batch_alter_table('repair_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_repair_orders_technician_id'))
        batch_op.drop_index('ix_repair_orders_status_station')
        batch_op.drop_index(batch_op.f('ix_repair_orders_station_id'))
        batch_op.drop_index('ix_repair_orders_open_deadline', postgresql_where=sa.text("status NOT IN ('resolved', 'closed', 'cancelled')"), sqlite_where=sa.text("status NOT IN ('resolved', 'closed', 'cancelled')"))
        batch_op.drop_index(batch_op.f('ix_repair_orders_incident_id'))
        batch_op.drop_index(batch_op.f('ix_repair_orders_customer_id'))

    op.drop_table('repair_orders')
    op.drop_table('sla_policies')
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_records_created_at'))

    op.drop_table('idempotency_records')
    op.drop_table('categories')
