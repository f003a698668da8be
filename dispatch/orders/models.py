"""Repair orders, their timeline, categories, deadlines and the technicians' duty state."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.ext.hybrid import hybrid_method, hybrid_property
from sqlalchemy.orm import Mapped, WriteOnlyMapped, mapped_column, relationship

from core import messages
from core.db import UTCDateTime, now, seconds_between
from core.extensions import db

if TYPE_CHECKING:  # for the relationships' annotations; SQLAlchemy resolves them by name
    from core.auth import User
    from core.customers import Customer
    from core.stations import Station

KINDS = ("fault", "installation", "relocation", "complaint_visit")
KIND_LABELS = {"fault": _l("Fault"), "installation": _l("Installation"), "relocation": _l("Relocation"),
               "complaint_visit": _l("Complaint visit")}
SERVICE_LINES = ("cable_tv", "digital_tv", "broadband")
CHANNELS = ("hotline", "counter", "web", "open311", "api", "import")
CHANNEL_LABELS = {"hotline": _l("Hotline"), "counter": _l("Counter"), "web": _l("Web"), "open311": _l("Open311"),
                  "api": _l("API"), "import": _l("Import")}
PRIORITIES = ("low", "normal", "high", "urgent")
PRIORITY_LABELS = {"low": _l("Low"), "normal": _l("Normal"), "high": _l("High"), "urgent": _l("Urgent")}
STATUSES = ("new", "assigned", "accepted", "en_route", "on_site", "waiting_customer", "waiting_parts",
            "resolved", "closed", "cancelled")
STATUS_LABELS = {
    "new": _l("New"), "assigned": _l("Assigned"), "accepted": _l("Accepted"), "en_route": _l("En route"),
    "on_site": _l("On site"), "waiting_customer": _l("Waiting for customer"),
    "waiting_parts": _l("Waiting for parts"), "resolved": _l("Resolved"), "closed": _l("Closed"),
    "cancelled": _l("Cancelled"),
}
OPEN_STATUSES = ("new", "assigned", "accepted", "en_route", "on_site", "waiting_customer", "waiting_parts")
CLOSED_STATUSES = tuple(s for s in STATUSES if s not in OPEN_STATUSES)  # resolved, closed, cancelled
FINISHED_STATUSES = ("resolved", "closed")  # judged by when they were resolved
# The open predicate as literal SQL, word for word the WHERE term of the partial indexes on open
# orders (SQLite uses a partial index only when the query repeats its term; bound parameters would
# hide the values from either planner). Queries take RepairOrder.is_open, which renders the same.
OPEN_PREDICATE = f"status NOT IN ({', '.join(repr(s) for s in CLOSED_STATUSES)})"
# the same rules as the partial indexes' literal SQL (running = open and the clock not paused)
RUNNING_PREDICATE = f"{OPEN_PREDICATE} AND paused_at IS NULL"
UNLINKED_FAULT_PREDICATE = f"{OPEN_PREDICATE} AND kind = 'fault' AND incident_id IS NULL AND lat IS NOT NULL"
SLA_STATES = ("ok", "due_soon", "overdue")
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


def pause_shift(paused_at: datetime | None, at: datetime) -> timedelta:
    """How far a paused clock has moved an order's deadline on at `at` (nothing while it runs)."""
    return timedelta(0) if paused_at is None else at - paused_at


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
    # how long a job of this kind takes on site, for planning a technician's day
    service_minutes: Mapped[int] = mapped_column(default=60, server_default="60")
    is_active: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (
        sa.CheckConstraint(_in("kind", KINDS), name="kind_known"),
        sa.CheckConstraint(_in("service_line", SERVICE_LINES), name="service_line_known"),
        sa.CheckConstraint("weight > 0 AND weight <= 5", name="weight_range"),
        sa.CheckConstraint("service_minutes >= 5 AND service_minutes <= 1440", name="service_minutes_range"),
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
    # the geocoder job's queue: when it tries the address next (None: nothing to try) and how often it has
    geocode_after: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    geocode_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stations.id"), index=True)
    placement_reason: Mapped[str] = mapped_column(sa.String(120), default="")  # English, for exports and the API
    # the reason as a message code and its parameters (dispatch.orders.messages), shown in the reader's language
    placement_code: Mapped[str | None] = mapped_column(sa.String(40))
    placement_params: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
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

    customer: Mapped[Customer] = relationship(lazy="joined")
    category: Mapped[Category] = relationship(lazy="joined")
    station: Mapped[Station | None] = relationship(lazy="joined")
    technician: Mapped[User | None] = relationship(lazy="joined")
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
                 postgresql_where=sa.text(OPEN_PREDICATE), sqlite_where=sa.text(OPEN_PREDICATE)),
        sa.Index("ix_repair_orders_status_station", "status", "station_id"),
        # the SLA jobs: one exact partial index each over running orders (open, not paused), so the
        # planner has no wider index to prefer: warnings by warn time; level 1 and 2 by deadline
        sa.Index("ix_repair_orders_sla_warn", "warn_at",
                 postgresql_where=sa.text(f"{RUNNING_PREDICATE} AND escalation_level = 0"),
                 sqlite_where=sa.text(f"{RUNNING_PREDICATE} AND escalation_level = 0")),
        *(sa.Index(f"ix_repair_orders_sla_level{level}", "deadline_at",
                   postgresql_where=sa.text(f"{RUNNING_PREDICATE} AND escalation_level = {level}"),
                   sqlite_where=sa.text(f"{RUNNING_PREDICATE} AND escalation_level = {level}"))
          for level in (0, 1)),
        # incident detection: recent open faults not linked to an incident
        sa.Index("ix_repair_orders_unlinked_faults", "reported_at",
                 postgresql_where=sa.text(UNLINKED_FAULT_PREDICATE),
                 sqlite_where=sa.text(UNLINKED_FAULT_PREDICATE)),
        # the live map's feed: open orders by point
        sa.Index("ix_repair_orders_open_lon_lat", "lon", "lat",
                 postgresql_where=sa.text(OPEN_PREDICATE), sqlite_where=sa.text(OPEN_PREDICATE)),
        # the scorecards and a customer's history
        sa.Index("ix_repair_orders_reported_at", "reported_at"),
        sa.Index("ix_repair_orders_resolved_at", "resolved_at"),
        sa.Index("ix_repair_orders_customer_reported", "customer_id", "reported_at"),
    )

    # ------------------------------------------------------------ the order-state rules, defined once
    # Each rule has a Python form (on an order) and an SQL form (on the class, for queries) side by
    # side here; every page, queue, filter, feed and job asks these, and
    # tests/dispatch/orders/test_order_state_properties.py checks both forms agree on both databases.
    #
    # - Open: any status but resolved, closed and cancelled.
    # - The clock: an order's deadline clock stops while it is paused (paused_at set: waiting on the
    #   customer, or on parts when its policy says so). Its time `clock_at(at)` is `at` (now) while it
    #   runs, paused_at while it is paused. Resuming moves deadline_at and warn_at on by the pause
    #   (paused_seconds adds it up), so the stored times already include every earlier pause.
    # - Deadline state (sla_state) of an open order, judged at its clock's time t:
    #   overdue when t >= deadline_at, due_soon when warn_at <= t < deadline_at, else ok (exactly at
    #   either edge counts as the later state). A pause therefore freezes the state: an order paused
    #   after its deadline stays overdue while it waits; one paused before stays ok or due soon.
    # - Finished orders: resolved or closed ones are overdue when resolved after the deadline (exactly
    #   at the deadline is on time, as in the KPIs); cancelled ones are ok.
    # - Overdue and due soon (queues, ?overdue=, station counts): open orders in that state.
    # - Running (is_running): open and not paused. Only running orders are warned and escalated
    #   (dispatch/deadlines/services/sla.py): the ladder follows time passing, and a pause stops the clock.

    @hybrid_property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @is_open.inplace.expression
    @classmethod
    def _is_open_expression(cls) -> Any:
        # literal values, so that the statement repeats the partial indexes' OPEN_PREDICATE
        return cls.status.not_in(sa.bindparam(None, CLOSED_STATUSES, expanding=True, literal_execute=True))

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    @property
    def is_running(self) -> bool:
        """The deadline clock runs: open and not paused (what the SLA jobs warn and escalate)."""
        return self.is_open and self.paused_at is None

    @hybrid_method
    def clock_at(self, at: datetime | None = None) -> datetime:
        """The time on the order's deadline clock at `at` (now): `at`, or when the clock was paused."""
        return self.paused_at if self.paused_at is not None else (at or now())

    @clock_at.inplace.expression
    @classmethod
    def _clock_at_expression(cls, at: datetime | None = None) -> Any:
        return sa.func.coalesce(cls.paused_at, sa.literal(at or now(), UTCDateTime()), type_=UTCDateTime())

    @hybrid_method
    def sla_state(self, at: datetime | None = None) -> str:
        """ok, due_soon or overdue at `at` (now), by the rules above."""
        if self.status == "cancelled":
            return "ok"
        if self.status in FINISHED_STATUSES and self.resolved_at is not None:
            return "overdue" if self.resolved_at > self.deadline_at else "ok"
        t = self.clock_at(at)
        if t >= self.deadline_at:
            return "overdue"
        if t >= self.warn_at:
            return "due_soon"
        return "ok"

    @sla_state.inplace.expression
    @classmethod
    def _sla_state_expression(cls, at: datetime | None = None) -> Any:
        t = cls.clock_at(at)
        return sa.case(
            (cls.status == "cancelled", "ok"),
            (sa.and_(cls.status.in_(FINISHED_STATUSES), cls.resolved_at.is_not(None)),
             sa.case((cls.resolved_at > cls.deadline_at, "overdue"), else_="ok")),
            (t >= cls.deadline_at, "overdue"),
            (t >= cls.warn_at, "due_soon"),
            else_="ok")

    @hybrid_method
    def seconds_left(self, at: datetime | None = None) -> float:
        """Time left on the clock until the deadline (negative past it); frozen while paused."""
        return (self.deadline_at - self.clock_at(at)).total_seconds()

    @seconds_left.inplace.expression
    @classmethod
    def _seconds_left_expression(cls, at: datetime | None = None) -> Any:
        return seconds_between(cls.clock_at(at), cls.deadline_at)

    def effective_deadline(self, at: datetime | None = None) -> datetime:
        """The deadline as it stands at `at` (now): while the clock is paused it moves on with the time."""
        return self.deadline_at + pause_shift(self.paused_at, at or now())

    def effective_warn_at(self, at: datetime | None = None) -> datetime:
        """When the order is due soon, as it stands at `at` (now); moves on with a paused clock too."""
        return self.warn_at + pause_shift(self.paused_at, at or now())

    @property
    def is_overdue(self) -> bool:
        return self.sla_state() == "overdue"

    @property
    def hours_left(self) -> float:
        return self.seconds_left() / 3600

    @property
    def status_label(self) -> str:
        return str(STATUS_LABELS[self.status])

    @property
    def priority_label(self) -> str:
        return str(PRIORITY_LABELS.get(self.priority, self.priority))

    @property
    def placement_text(self) -> str:
        """Why the order is at its station, in the reader's language (the English text for old rows)."""
        return messages.render(self.placement_code, self.placement_params, self.placement_reason)

    def __repr__(self) -> str:
        return f"<RepairOrder {self.number} {self.status}>"


def overdue_clause(at: datetime | None = None) -> Any:
    """Open orders overdue at `at` (now): is_open and sla_state(at) == 'overdue', as a WHERE term."""
    return sa.and_(RepairOrder.is_open, RepairOrder.clock_at(at) >= RepairOrder.deadline_at)


def due_soon_clause(at: datetime | None = None) -> Any:
    """Open orders due soon at `at` (now): is_open and sla_state(at) == 'due_soon', as a WHERE term."""
    t = RepairOrder.clock_at(at)
    return sa.and_(RepairOrder.is_open, t >= RepairOrder.warn_at, t < RepairOrder.deadline_at)


class OrderEvent(db.Model):
    """One line of an order's timeline. Append-only."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("repair_orders.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(sa.String(20))
    # when the action was taken (the SLA clock, the steps' times and the scorecards go by this one) and
    # when the server recorded it: later for an action taken offline and sent when the phone was back
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(sa.String(1000), default="")
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    from_status: Mapped[str | None] = mapped_column(sa.String(20))
    to_status: Mapped[str | None] = mapped_column(sa.String(20))
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    order: Mapped[RepairOrder] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint(_in("type", EVENT_TYPES), name="type_known"),
        sa.Index("ix_order_events_type_at", "type", "at"),  # the scorecards count events by type and time
    )

    @property
    def label(self) -> str:
        return str(EVENT_LABELS.get(self.type, self.type))

    @property
    def note_text(self) -> str:
        """The note in the reader's language when the services wrote it (a code in `data`); a note
        someone typed, or an old row, as stored."""
        data = self.data or {}
        return messages.render(data.get("msg"), data.get("msg_params"), self.note)

    @property
    def recorded_later(self) -> bool:
        """Was this action recorded a second or more after it was taken (queued on a phone offline)?
        A "created" event dated back to the report's time is not one: the order shows when it was reported."""
        return self.type != "created" and self.recorded_at is not None and self.at is not None and (
            self.recorded_at - self.at).total_seconds() >= 1


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
