"""Spares: items, locations, stock levels, the append-only ledger, serial units and loans.

Orders are known by id only (`order_id`, no foreign key): inventory never imports dispatch.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, now
from core.extensions import db
from core.i18n import current_language

if TYPE_CHECKING:  # for the relationships' annotations; SQLAlchemy resolves them by name
    from core.auth import User
    from core.customers import Customer
    from core.stations import Station

CATEGORIES = ("set_top_box", "smart_card", "modem", "optical_terminal", "cable", "connector", "splitter",
              "amplifier", "power_supply", "remote")
CATEGORY_LABELS = {
    "set_top_box": _l("Set-top box"), "smart_card": _l("Smart card"), "modem": _l("Modem"),
    "optical_terminal": _l("Optical terminal"), "cable": _l("Cable"), "connector": _l("Connector"),
    "splitter": _l("Splitter"), "amplifier": _l("Amplifier"), "power_supply": _l("Power supply"),
    "remote": _l("Remote control"),
}
LOCATION_KINDS = ("store", "van", "repair", "customer", "supplier", "scrap")
# Stock is counted where we hold it; suppliers, customers and scrap are the ledger's outside world.
TRACKED_KINDS = ("store", "van", "repair")
MOVE_TYPES = ("receive", "transfer", "issue", "return", "adjust", "scrap", "repair_out", "repair_in",
              "loan_out", "loan_in", "consume")
MOVE_LABELS = {
    "receive": _l("Receive"), "transfer": _l("Transfer"), "issue": _l("Issue"), "return": _l("Return"),
    "adjust": _l("Adjust"), "scrap": _l("Scrap"), "repair_out": _l("Send to repair"),
    "repair_in": _l("Back from repair"), "loan_out": _l("Loan out"), "loan_in": _l("Loan back"),
    "consume": _l("Consume"),
}
# units of measure an item is counted in: stored as the code, shown in the reader's language;
# a unit outside the list (an import's own) is shown as written
UNITS = ("pcs", "m", "box", "roll", "set", "pair", "kg")
UNIT_LABELS = {"pcs": lazy_pgettext("unit", "pcs"), "m": lazy_pgettext("unit", "m"),
               "box": lazy_pgettext("unit", "box"), "roll": lazy_pgettext("unit", "roll"),
               "set": lazy_pgettext("unit", "set"), "pair": lazy_pgettext("unit", "pair"),
               "kg": lazy_pgettext("unit", "kg")}
UNIT_STATUSES = ("in_store", "in_van", "installed", "on_loan", "faulty", "in_repair", "scrapped")
UNIT_STATUS_LABELS = {
    "in_store": _l("In store"), "in_van": _l("In van"), "installed": _l("Installed"), "on_loan": _l("On loan"),
    "faulty": _l("Faulty"), "in_repair": _l("In repair"), "scrapped": _l("Scrapped"),
}


# Repair orders are dispatch's, and inventory never imports dispatch: it keeps an order's id and
# reads its number through this reference to two columns of their table (no model, nothing
# written), so that a page of moves is one query that shows each order by its number.
ORDER_NUMBERS = sa.table("repair_orders", sa.column("id", sa.Integer), sa.column("number", sa.String))


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class Item(db.Model):
    __tablename__ = "inventory_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    name_zh: Mapped[str] = mapped_column(sa.String(120), default="", server_default="")
    category: Mapped[str] = mapped_column(sa.String(20))
    unit: Mapped[str] = mapped_column(sa.String(10), default="pcs")
    is_serialized: Mapped[bool] = mapped_column(default=False)
    unit_cost: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), default=Decimal("0"))
    reorder_point: Mapped[int] = mapped_column(default=0)  # default for a station store
    reorder_qty: Mapped[int] = mapped_column(default=0)
    van_reorder_point: Mapped[int] = mapped_column(default=0)  # default for a van
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    __table_args__ = (
        sa.CheckConstraint(f"category IN ({_in(CATEGORIES)})", name="category_known"),
        sa.CheckConstraint("unit_cost >= 0 AND reorder_point >= 0 AND reorder_qty >= 0 AND van_reorder_point >= 0",
                           name="amounts_not_negative"),
    )

    @property
    def category_label(self) -> str:
        return str(CATEGORY_LABELS[self.category])

    @property
    def display_name(self) -> str:
        """The name in the reader's language (the English one when no Chinese name is given)."""
        return item_name(self.name, self.name_zh, current_language())

    @property
    def unit_label(self) -> str:
        return unit_label(self.unit)


def item_name(name: str, name_zh: str | None, locale: str | None) -> str:
    return name_zh if (locale or "").startswith("zh") and name_zh else name


def unit_label(unit: str | None) -> str:
    return str(UNIT_LABELS.get(unit or "", unit or ""))


class Location(db.Model):
    __tablename__ = "inventory_locations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(60), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120), default="")
    kind: Mapped[str] = mapped_column(sa.String(10))
    station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stations.id"), index=True)
    technician_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), unique=True)

    station: Mapped[Station | None] = relationship(lazy="joined")
    technician: Mapped[User | None] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint(f"kind IN ({_in(LOCATION_KINDS)})", name="kind_known"),
        sa.CheckConstraint("kind <> 'van' OR technician_id IS NOT NULL", name="van_has_technician"),
        sa.CheckConstraint("kind <> 'store' OR station_id IS NOT NULL", name="store_has_station"),
    )

    @property
    def is_tracked(self) -> bool:
        return self.kind in TRACKED_KINDS


class StockLevel(db.Model):
    """How many of an item a location holds: always the ledger's sum, kept in the same transaction."""

    __tablename__ = "inventory_stock_levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    location_id: Mapped[int] = mapped_column(sa.ForeignKey("inventory_locations.id"))
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("inventory_items.id"), index=True)
    qty: Mapped[int] = mapped_column(default=0)
    reorder_point: Mapped[int] = mapped_column(default=0)
    reorder_qty: Mapped[int] = mapped_column(default=0)
    # Reorder alert state: set when qty falls below the reorder point, cleared when it is back;
    # `low_crossings` numbers the crossings so each one alerts exactly once.
    is_low: Mapped[bool] = mapped_column(default=False)
    low_crossings: Mapped[int] = mapped_column(default=0)

    location: Mapped[Location] = relationship(lazy="joined")
    item: Mapped[Item] = relationship(lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("location_id", "item_id"),
        sa.CheckConstraint("qty >= 0", name="qty_not_negative"),
        sa.CheckConstraint("reorder_point >= 0 AND reorder_qty >= 0", name="reorder_not_negative"),
    )

    @property
    def suggested_qty(self) -> int:
        """What to bring in to be comfortably above the reorder point again."""
        if self.qty >= self.reorder_point:
            return 0
        return max(self.reorder_qty, self.reorder_point - self.qty)


class SerialUnit(db.Model):
    __tablename__ = "inventory_serial_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(sa.String(60), unique=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("inventory_items.id"), index=True)
    status: Mapped[str] = mapped_column(sa.String(12))
    location_id: Mapped[int] = mapped_column(sa.ForeignKey("inventory_locations.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    item: Mapped[Item] = relationship(lazy="joined")
    location: Mapped[Location] = relationship(lazy="joined")
    customer: Mapped[Customer | None] = relationship()

    __table_args__ = (sa.CheckConstraint(f"status IN ({_in(UNIT_STATUSES)})", name="status_known"),)

    @property
    def status_label(self) -> str:
        return str(UNIT_STATUS_LABELS[self.status])


class StockMove(db.Model):
    """One line of the ledger. Never updated or deleted: a correction is a reversing move."""

    __tablename__ = "inventory_stock_moves"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(12))
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("inventory_items.id"))
    qty: Mapped[int]
    serial_unit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inventory_serial_units.id"), index=True)
    from_location_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inventory_locations.id"))
    to_location_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inventory_locations.id"))
    reason: Mapped[str] = mapped_column(sa.String(255), default="")
    order_id: Mapped[int | None] = mapped_column(index=True)  # a repair order, by id only
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    item: Mapped[Item] = relationship(lazy="joined")
    serial_unit: Mapped[SerialUnit | None] = relationship(lazy="joined")
    from_location: Mapped[Location | None] = relationship(foreign_keys=[from_location_id], lazy="joined")
    to_location: Mapped[Location | None] = relationship(foreign_keys=[to_location_id], lazy="joined")
    actor: Mapped[User | None] = relationship(lazy="joined")
    customer: Mapped[Customer | None] = relationship()

    __table_args__ = (
        sa.CheckConstraint(f"type IN ({_in(MOVE_TYPES)})", name="type_known"),
        sa.CheckConstraint("qty > 0", name="qty_positive"),
        sa.CheckConstraint("serial_unit_id IS NULL OR qty = 1", name="serial_moves_one"),
        sa.CheckConstraint("from_location_id IS NOT NULL OR to_location_id IS NOT NULL", name="has_a_side"),
        sa.CheckConstraint("from_location_id IS NULL OR to_location_id IS NULL "
                           "OR from_location_id <> to_location_id", name="sides_differ"),
        # level and history queries: what came in / went out of a place, an item's moves by time
        sa.Index("ix_inventory_stock_moves_to", "to_location_id", "item_id"),
        sa.Index("ix_inventory_stock_moves_from", "from_location_id", "item_id"),
        sa.Index("ix_inventory_stock_moves_item_at", "item_id", "at"),
        # the ledger page: newest first, a page at a time, whatever the filters
        sa.Index("ix_inventory_stock_moves_at", "at", "id"),
    )

    @property
    def type_label(self) -> str:
        return str(MOVE_LABELS[self.type])


class Loan(db.Model):
    """A spare unit lent to a customer while theirs is repaired."""

    __tablename__ = "inventory_loans"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(sa.ForeignKey("inventory_serial_units.id"))
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(index=True)
    station_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stations.id"))
    lent_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    lent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[SerialUnit] = relationship(lazy="joined")
    customer: Mapped[Customer] = relationship(lazy="joined")
    station: Mapped[Station | None] = relationship(lazy="joined")

    __table_args__ = (
        sa.CheckConstraint("due_at >= lent_at", name="due_after_lent"),
        # a unit is on one open loan at most
        sa.Index("uq_inventory_loans_open_unit", "unit_id", unique=True,
                 postgresql_where=sa.text("returned_at IS NULL"), sqlite_where=sa.text("returned_at IS NULL")),
        # the reminder job's hot query: open, not yet reminded, by due date
        sa.Index("ix_inventory_loans_due", "due_at",
                 postgresql_where=sa.text("returned_at IS NULL AND reminded_at IS NULL"),
                 sqlite_where=sa.text("returned_at IS NULL AND reminded_at IS NULL")),
    )

    def is_overdue(self, at: datetime | None = None) -> bool:
        return self.returned_at is None and self.due_at < (at or now())
