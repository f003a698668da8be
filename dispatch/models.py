"""Repair orders, their timeline, categories, deadlines and the technicians' duty state."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from core.db import UTCDateTime, now
from core.extensions import db

KINDS = ("fault", "installation", "relocation", "complaint_visit")
KIND_LABELS = {"fault": _l("Fault"), "installation": _l("Installation"), "relocation": _l("Relocation"),
               "complaint_visit": _l("Complaint visit")}
SERVICE_LINES = ("cable_tv", "digital_tv", "broadband")
CHANNELS = ("hotline", "counter", "web", "open311", "api", "import")
CHANNEL_LABELS = {"hotline": _l("Hotline"), "counter": _l("Counter"), "web": _l("Web"), "open311": _l("Open311"),
                  "api": _l("API"), "import": _l("Import")}
PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "assigned", "accepted", "en_route", "on_site", "waiting_customer", "waiting_parts",
            "resolved", "closed", "cancelled")
STATUS_LABELS = {
    "new": _l("New"), "assigned": _l("Assigned"), "accepted": _l("Accepted"), "en_route": _l("En route"),
    "on_site": _l("On site"), "waiting_customer": _l("Waiting for customer"),
    "waiting_parts": _l("Waiting for parts"), "resolved": _l("Resolved"), "closed": _l("Closed"),
    "cancelled": _l("Cancelled"),
}
OPEN_STATUSES = ("new", "assigned", "accepted", "en_route", "on_site", "waiting_customer", "waiting_parts")
WAITING_STATUSES = ("waiting_customer", "waiting_parts")
EVENT_TYPES = ("created", "assigned", "reassigned", "accepted", "declined", "departed", "arrived",
               "waiting_customer", "waiting_parts", "resumed", "resolved", "closed", "reopened", "cancelled",
               "deadline_warning", "escalated", "incident_linked", "callback", "notified", "located", "note")
EVENT_LABELS = {
    "created": _l("Created"), "assigned": _l("Assigned"), "reassigned": _l("Reassigned"),
    "accepted": _l("Accepted"), "declined": _l("Declined"), "departed": _l("Departed"),
    "arrived": _l("Arrived"), "waiting_customer": _l("Waiting for customer"),
    "waiting_parts": _l("Waiting for parts"), "resumed": _l("Resumed"), "resolved": _l("Resolved"),
    "closed": _l("Closed"), "reopened": _l("Reopened"), "cancelled": _l("Cancelled"),
    "deadline_warning": _l("Deadline warning"), "escalated": _l("Escalated"),
    "incident_linked": _l("Linked to incident"), "callback": _l("Callback"), "notified": _l("Notified"),
    "located": _l("Location pinned"), "note": _l("Note"),
}


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Category(db.Model):
    """A kind of job: what the customer reports, which skill it needs, how heavy it is."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    name_zh: Mapped[str] = mapped_column(sa.String(120), default="")
    kind: Mapped[str] = mapped_column(sa.String(20))
    service_line: Mapped[str] = mapped_column(sa.String(20))
    skill: Mapped[str] = mapped_column(sa.String(40))
    weight: Mapped[float] = mapped_column(default=1.0)
    is_active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        sa.CheckConstraint(_in("kind", KINDS), name="kind_known"),
        sa.CheckConstraint(_in("service_line", SERVICE_LINES), name="service_line_known"),
        sa.CheckConstraint("weight > 0 AND weight <= 5", name="weight_range"),
    )

    def label(self, locale: str | None) -> str:
        return self.name_zh if (locale or "").startswith("zh") and self.name_zh else self.name


class SlaPolicy(db.Model):
    """Restore hours by kind and (optionally) customer segment; the segment row wins."""

    __tablename__ = "sla_policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    segment: Mapped[str | None] = mapped_column(sa.String(20))
    restore_hours: Mapped[float]
    warning_lead_hours: Mapped[float] = mapped_column(default=4.0)
    escalation_step_hours: Mapped[float] = mapped_column(default=4.0)
    wait_parts_pauses: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (
        sa.UniqueConstraint("kind", "segment"),
        sa.CheckConstraint(_in("kind", KINDS), name="kind_known"),
        sa.CheckConstraint("restore_hours > 0 AND warning_lead_hours >= 0 AND escalation_step_hours > 0",
                           name="hours_positive"),
    )


class RepairOrder(db.Model):
    __tablename__ = "repair_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(24), unique=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20))
    category_id: Mapped[int] = mapped_column(sa.ForeignKey("categories.id"))
    priority: Mapped[str] = mapped_column(sa.String(10), default="normal")
    channel: Mapped[str] = mapped_column(sa.String(10))
    description: Mapped[str] = mapped_column(sa.Text)
    address: Mapped[str] = mapped_column(sa.String(255), default="")
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    needs_location: Mapped[bool] = mapped_column(default=False)
    station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stations.id"), index=True)
    placement_reason: Mapped[str] = mapped_column(sa.String(120), default="")
    technician_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    status: Mapped[str] = mapped_column(sa.String(20), default="new")
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    warn_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_seconds: Mapped[int] = mapped_column(default=0)
    escalation_level: Mapped[int] = mapped_column(default=0)
    resolution_code: Mapped[str | None] = mapped_column(sa.String(40))
    resolution: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)  # parts, loan, collected unit
    is_repeat: Mapped[bool] = mapped_column(default=False)
    weight: Mapped[float] = mapped_column(default=1.0)
    incident_id: Mapped[int | None] = mapped_column(index=True)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    departed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    version: Mapped[int] = mapped_column(default=1)

    customer = relationship("Customer", lazy="joined")
    category: Mapped[Category] = relationship(lazy="joined")
    station = relationship("Station", lazy="joined")
    technician = relationship("User", lazy="joined")
    events: WriteOnlyMapped[OrderEvent] = relationship(back_populates="order", order_by="OrderEvent.id",
                                                       passive_deletes=True)

    __mapper_args__ = {"version_id_col": version}

    __table_args__ = (
        sa.CheckConstraint(_in("kind", KINDS), name="kind_known"),
        sa.CheckConstraint(_in("channel", CHANNELS), name="channel_known"),
        sa.CheckConstraint(_in("priority", PRIORITIES), name="priority_known"),
        sa.CheckConstraint(_in("status", STATUSES), name="status_known"),
        sa.CheckConstraint("(lat IS NULL AND lon IS NULL) OR (lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180)",
                           name="point_in_range"),
        sa.CheckConstraint("needs_location OR lat IS NOT NULL", name="located_or_flagged"),
        sa.CheckConstraint("technician_id IS NULL OR station_id IS NOT NULL", name="technician_has_station"),
        sa.CheckConstraint("status IN ('new', 'cancelled') OR technician_id IS NOT NULL",
                           name="working_orders_have_technician"),
        sa.CheckConstraint("deadline_at >= reported_at", name="deadline_after_report"),
        # the SLA job's hot query: open orders by deadline
        sa.Index("ix_repair_orders_open_deadline", "deadline_at",
                 postgresql_where=sa.text("status NOT IN ('resolved', 'closed', 'cancelled')"),
                 sqlite_where=sa.text("status NOT IN ('resolved', 'closed', 'cancelled')")),
        sa.Index("ix_repair_orders_status_station", "status", "station_id"),
    )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    def effective_deadline(self, at: datetime | None = None) -> datetime:
        """The deadline as it stands now: a paused clock pushes it on while the pause lasts."""
        if self.paused_at is None:
            return self.deadline_at
        return self.deadline_at + ((at or now()) - self.paused_at)

    def sla_state(self, at: datetime | None = None) -> str:
        """ok, due_soon or overdue. Finished orders are judged by when they were resolved."""
        at = at or now()
        if self.status == "cancelled":
            return "ok"
        if self.resolved_at is not None and self.status in ("resolved", "closed"):
            return "overdue" if self.resolved_at > self.deadline_at else "ok"
        deadline = self.effective_deadline(at)
        if at >= deadline:  # exactly at the deadline is overdue, as on the map and in the jobs
            return "overdue"
        if at >= deadline - (self.deadline_at - self.warn_at):
            return "due_soon"
        return "ok"

    @property
    def is_overdue(self) -> bool:
        return self.sla_state() == "overdue"

    @property
    def hours_left(self) -> float:
        return (self.effective_deadline() - now()) / timedelta(hours=1)

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.status])

    def __repr__(self) -> str:
        return f"<RepairOrder {self.number} {self.status}>"


class OrderEvent(db.Model):
    """One line of an order's timeline. Append-only."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("repair_orders.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(sa.String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(sa.String(1000), default="")
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str | None] = mapped_column(sa.String(20))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    order: Mapped[RepairOrder] = relationship(back_populates="events")
    actor = relationship("User", lazy="joined")

    __table_args__ = (sa.CheckConstraint(_in("type", EVENT_TYPES), name="type_known"),)

    @property
    def label(self) -> str:
        return str(EVENT_LABELS.get(self.type, self.type))


class TechnicianDuty(db.Model):
    """Whether a technician is working now, their shift and where they were last seen."""

    __tablename__ = "technician_duty"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    on_duty: Mapped[bool] = mapped_column(default=False)
    shift: Mapped[str | None] = mapped_column(sa.String(10))
    last_lat: Mapped[float | None]
    last_lon: Mapped[float | None]
    last_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    __table_args__ = (
        sa.CheckConstraint("shift IS NULL OR shift IN ('day', 'evening', 'night')", name="shift_known"),
        sa.CheckConstraint("(last_lat IS NULL AND last_lon IS NULL) OR "
                           "(last_lat BETWEEN -90 AND 90 AND last_lon BETWEEN -180 AND 180)",
                           name="point_in_range"),
    )


# Step times shown in the API (ISO 8601 with offset)
STEP_TIME_FIELDS = ("assigned_at", "accepted_at", "departed_at", "arrived_at", "resolved_at", "closed_at",
                       "cancelled_at", "created_at", "updated_at")

ACTION_LABELS = {
    "accept": _l("Accept"), "decline": _l("Decline"), "depart": _l("Depart"), "arrive": _l("Arrive"),
    "wait_customer": _l("Wait for customer"), "wait_parts": _l("Wait for parts"), "resume": _l("Resume"),
    "resolve": _l("Resolve"), "close": _l("Close"), "reopen": _l("Reopen"), "cancel": _l("Cancel order"),
}
