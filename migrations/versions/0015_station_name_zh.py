"""stations.name_zh: a station's name in Chinese beside the English one, shown to readers of Chinese

Revision ID: 0015_station_name_zh
Revises: 0014_stored_text_codes
"""
import sqlalchemy as sa
from alembic import op

import core.db  # noqa: F401  (every revision imports it for UTCDateTime)


revision = '0015_station_name_zh'
down_revision = '0014_stored_text_codes'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_zh', sa.String(length=120), server_default='', nullable=False))


def downgrade():
    with op.batch_alter_table('stations', schema=None) as batch_op:
        batch_op.drop_column('name_zh')
