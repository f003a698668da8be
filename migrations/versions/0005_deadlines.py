"""deadlines: incidents, escalation acknowledgements, SLA clock

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

import core.db


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

OPEN = "status NOT IN ('resolved', 'closed', 'cancelled')"
RUNNING = f"{OPEN} AND paused_at IS NULL"
# name: (table, columns, partial-index predicate) — the SLA jobs' and board's hot queries
INDEXES = {
    'ix_incidents_open': ('incidents', ['service_line'], "status = 'open'"),
    'ix_sla_alerts_unacked': ('sla_alerts', ['station_id', 'created_at'],
                              "kind = 'escalation' AND acknowledged_at IS NULL"),
    'ix_repair_orders_sla_warn': ('repair_orders', ['warn_at'], f"{RUNNING} AND escalation_level = 0"),
    'ix_repair_orders_sla_level0': ('repair_orders', ['deadline_at'], f"{RUNNING} AND escalation_level = 0"),
    'ix_repair_orders_sla_level1': ('repair_orders', ['deadline_at'], f"{RUNNING} AND escalation_level = 1"),
    'ix_repair_orders_unlinked_faults': ('repair_orders', ['reported_at'],
                                         f"{OPEN} AND kind = 'fault' AND incident_id IS NULL AND lat IS NOT NULL"),
}


def upgrade():
    op.create_table('incident_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('min_orders', sa.Integer(), nullable=False),
    sa.Column('radius_m', sa.Integer(), nullable=False),
    sa.Column('window_minutes', sa.Integer(), nullable=False),
    sa.Column('updated_at', core.db.UTCDateTime(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('id = 1', name=op.f('ck_incident_settings_single_row')),
    sa.CheckConstraint('min_orders BETWEEN 2 AND 1000', name=op.f('ck_incident_settings_min_orders_range')),
    sa.CheckConstraint('radius_m BETWEEN 10 AND 50000', name=op.f('ck_incident_settings_radius_range')),
    sa.CheckConstraint('window_minutes BETWEEN 1 AND 1440', name=op.f('ck_incident_settings_window_range')),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_incident_settings_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_settings'))
    )
    op.create_table('incidents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('service_line', sa.String(length=20), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=True),
    sa.Column('lat', sa.Double(), nullable=False),
    sa.Column('lon', sa.Double(), nullable=False),
    sa.Column('radius_m', sa.Double(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('opened_at', core.db.UTCDateTime(), nullable=False),
    sa.Column('first_reported_at', core.db.UTCDateTime(), nullable=False),
    sa.Column('resolved_at', core.db.UTCDateTime(), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution_note', sa.String(length=500), nullable=False),
    sa.CheckConstraint("(status = 'resolved') = (resolved_at IS NOT NULL)", name=op.f('ck_incidents_resolved_has_time')),
    sa.CheckConstraint("service_line IN ('cable_tv', 'digital_tv', 'broadband')", name=op.f('ck_incidents_service_line_known')),
    sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f('ck_incidents_status_known')),
    sa.CheckConstraint('lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180', name=op.f('ck_incidents_point_in_range')),
    sa.CheckConstraint('radius_m > 0', name=op.f('ck_incidents_radius_positive')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_incidents_resolved_by_id_users')),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_incidents_station_id_stations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incidents'))
    )
    op.create_table('sla_alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=True),
    sa.Column('due_at', core.db.UTCDateTime(), nullable=False),
    sa.Column('created_at', core.db.UTCDateTime(), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('acknowledged_at', core.db.UTCDateTime(), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('ack_note', sa.String(length=500), nullable=False),
    sa.CheckConstraint("(kind = 'warning' AND level = 0) OR (kind = 'escalation' AND level IN (1, 2))", name=op.f('ck_sla_alerts_level_fits_kind')),
    sa.CheckConstraint("kind = 'escalation' OR acknowledged_at IS NULL", name=op.f('ck_sla_alerts_only_escalations_acked')),
    sa.CheckConstraint("kind IN ('warning', 'escalation')", name=op.f('ck_sla_alerts_kind_known')),
    sa.CheckConstraint('(acknowledged_at IS NULL) = (acknowledged_by_id IS NULL)', name=op.f('ck_sla_alerts_ack_complete')),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_sla_alerts_acknowledged_by_id_users')),
    sa.ForeignKeyConstraint(['order_id'], ['repair_orders.id'], name=op.f('fk_sla_alerts_order_id_repair_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['station_id'], ['stations.id'], name=op.f('fk_sla_alerts_station_id_stations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_alerts')),
    sa.UniqueConstraint('order_id', 'kind', 'level', 'cycle', name=op.f('uq_sla_alerts_order_id_kind_level_cycle'))
    )
    for name, (table, columns, where) in INDEXES.items():
        op.create_index(name, table, columns, unique=False, postgresql_where=sa.text(where),
                        sqlite_where=sa.text(where))


def downgrade():
    for name, (table, _columns, _where) in reversed(INDEXES.items()):
        op.drop_index(name, table_name=table)
    op.drop_table('sla_alerts')
    op.drop_table('incidents')
    op.drop_table('incident_settings')
