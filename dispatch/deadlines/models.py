"""The deadline clock's own tables: alerts sent (the "done" marks), incidents and their thresholds.

The partial indexes on repair_orders that the SLA jobs' hot queries use are declared with that
table, in dispatch/orders/models.py.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, now
from core.extensions import db
from dispatch.orders.models import SERVICE_LINES, RepairOrder, _in

if TYPE_CHECKING:  # for the relationships' annotations; SQLAlchemy resolves them by name
    from core.auth import User
    from core.stations import Station

ALERT_KINDS = ("warning", "escalation")
INCIDENT_STATUSES = ("open", "resolved")
# (the indexes the SLA jobs and incident detection use on repair_orders are declared with that
# table, in dispatch/orders/models.py)


class SlaAlert(db.Model):
    """One deadline alert of one order, stored once: the job's "done" mark and the board's to-do.

    `cycle` counts the order's reopenings, so a reopened order runs its ladder again.
    Escalations wait for a supervisor's acknowledgement (who, when).
    """

    __tablename__ = "sla_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("repair_orders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(12))
    level: Mapped[int] = mapped_column(default=0)
    cycle: Mapped[int] = mapped_column(default=0)
    station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stations.id"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    recipients: Mapped[int] = mapped_column(default=0)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    ack_note: Mapped[str] = mapped_column(sa.String(500), default="")

    order: Mapped[RepairOrder] = relationship(lazy="joined")
    acknowledged_by: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("order_id", "kind", "level", "cycle"),
        sa.CheckConstraint(_in("kind", ALERT_KINDS), name="kind_known"),
        sa.CheckConstraint("(kind = 'warning' AND level = 0) OR (kind = 'escalation' AND level IN (1, 2))",
                           name="level_fits_kind"),
        sa.CheckConstraint("(acknowledged_at IS NULL) = (acknowledged_by_id IS NULL)", name="ack_complete"),
        sa.CheckConstraint("kind = 'escalation' OR acknowledged_at IS NULL", name="only_escalations_acked"),
        # the board's "awaiting acknowledgement" list
        sa.Index("ix_sla_alerts_unacked", "station_id", "created_at",
                 postgresql_where=sa.text("kind = 'escalation' AND acknowledged_at IS NULL"),
                 sqlite_where=sa.text("kind = 'escalation' AND acknowledged_at IS NULL")),
    )

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None


class Incident(db.Model):
    """A mass outage: fault orders of one service line clustered in space and time."""

    __tablename__ = "incidents"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_line: Mapped[str] = mapped_column(sa.String(20))
    station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stations.id"))
    lat: Mapped[float]
    lon: Mapped[float]
    radius_m: Mapped[float]
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    first_reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    resolution_note: Mapped[str] = mapped_column(sa.String(500), default="")

    station: Mapped[Station | None] = relationship(lazy="joined")
    resolved_by: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint(_in("service_line", SERVICE_LINES), name="service_line_known"),
        sa.CheckConstraint(_in("status", INCIDENT_STATUSES), name="status_known"),
        sa.CheckConstraint("(status = 'resolved') = (resolved_at IS NOT NULL)", name="resolved_has_time"),
        sa.CheckConstraint("radius_m > 0", name="radius_positive"),
        sa.CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="point_in_range"),
        sa.Index("ix_incidents_open", "service_line",
                 postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'")),
    )

    @property
    def is_open(self) -> bool:
        return self.status == "open"


class IncidentSettings(db.Model):
    """The detection thresholds (one row, id 1): at least K faults within R metres within T minutes."""

    __tablename__ = "incident_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    min_orders: Mapped[int] = mapped_column(default=5)
    radius_m: Mapped[int] = mapped_column(default=500)
    window_minutes: Mapped[int] = mapped_column(default=60)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    __table_args__ = (
        sa.CheckConstraint("id = 1", name="single_row"),
        sa.CheckConstraint("min_orders BETWEEN 2 AND 1000", name="min_orders_range"),
        sa.CheckConstraint("radius_m BETWEEN 10 AND 50000", name="radius_range"),
        sa.CheckConstraint("window_minutes BETWEEN 1 AND 1440", name="window_range"),
    )
