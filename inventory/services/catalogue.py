"""Reading and keeping the catalogue and the places: items, locations, levels, units."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased, contains_eager, lazyload

from core import audit, auth, stations
from core.access import in_scope, sees_all_stations
from core.auth import User
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from core.parse import parse_decimal, parse_int
from inventory.models import CATEGORIES, Item, Loan, Location, SerialUnit, StockLevel, StockMove

MAX_QTY = 1_000_000
MAX_UNIT_COST = Decimal("100000000")  # Numeric(10, 2)
FIXED_LOCATIONS = (("SUPPLIER", "supplier", "Suppliers"), ("REPAIR", "repair", "Repair centre"),
                   ("CUSTOMERS", "customer", "At customers"), ("SCRAP", "scrap", "Scrap"))
VAN_PREFIX = "VAN-"


# --- reading ---------------------------------------------------------------

def all_items() -> list[Item]:
    return list(db.session.scalars(sa.select(Item).order_by(Item.category, Item.sku)))


def items_query(q: str | None = None, category: str | None = None):
    stmt = sa.select(Item).order_by(Item.category, Item.sku)
    if q:
        term = q.strip().lower()  # autoescape: % and _ are literal characters, not LIKE wildcards
        stmt = stmt.where(sa.or_(sa.func.lower(Item.sku).contains(term, autoescape=True),
                                 sa.func.lower(Item.name).contains(term, autoescape=True),
                                 Item.name_zh.contains(q.strip(), autoescape=True)))
    if category:
        stmt = stmt.where(Item.category == category)
    return stmt


def item_by_sku(sku: Any) -> Item:
    if not isinstance(sku, str) or not sku.strip():
        raise Invalid(str(_l("Give the item's SKU.")), {"sku": "required"})
    item = db.session.scalar(sa.select(Item).where(Item.sku == sku.strip().upper()))
    if item is None:
        raise Invalid(str(_l("Unknown SKU: %(sku)s", sku=sku.strip()[:40])), {"sku": "unknown"})
    return item


def locations_query(kind: str | None = None, station_id: int | None = None):
    stmt = sa.select(Location).order_by(Location.kind, Location.code)
    if kind:
        stmt = stmt.where(Location.kind == kind)
    if station_id:
        stmt = stmt.where(Location.station_id == station_id)
    return stmt


def location_by_code(code: Any, what: str = "location") -> Location:
    """A location by code; stores and vans of new stations and technicians are created on first use."""
    if not isinstance(code, str) or not code.strip():
        raise Invalid(str(_l("Give the %(what)s location's code.", what=what)), {what: "required"})
    code = code.strip().upper()
    loc = db.session.scalar(sa.select(Location).where(sa.func.upper(Location.code) == code))
    if loc is None and ensure_locations():
        loc = db.session.scalar(sa.select(Location).where(sa.func.upper(Location.code) == code))
    if loc is None:
        raise Invalid(str(_l("Unknown location: %(code)s", code=code[:60])), {what: "unknown"})
    return loc


def van_of(user: User) -> Location | None:
    loc = db.session.scalar(sa.select(Location).where(Location.technician_id == user.id))
    if loc is None and user.role == "technician" and ensure_locations():
        loc = db.session.scalar(sa.select(Location).where(Location.technician_id == user.id))
    return loc


def store_of(station_id: int | None) -> Location | None:
    if station_id is None:
        return None
    stmt = sa.select(Location).where(Location.kind == "store", Location.station_id == station_id)
    loc = db.session.scalar(stmt)
    if loc is None and ensure_locations():
        loc = db.session.scalar(stmt)
    return loc


def unit_by_serial(serial: Any) -> SerialUnit | None:
    if not isinstance(serial, str) or not serial.strip():
        return None
    return db.session.scalar(sa.select(SerialUnit).where(SerialUnit.serial == serial.strip().upper()))


def get_unit(serial: str, viewer: User | None = None) -> SerialUnit:
    """The unit with this serial; with a viewer, only if they may see it (else NotFound, as for a wrong serial)."""
    unit = unit_by_serial(serial)
    if unit is None or (viewer is not None and not may_see_unit(viewer, unit)):
        raise NotFound(str(_l("No unit with serial %(serial)s.", serial=(serial or "")[:60])))
    return unit


def unit_history(unit: SerialUnit) -> list[StockMove]:
    """The unit's moves, oldest first. Its places, item and people are few: loaded once each, not joined per row."""
    return list(db.session.scalars(sa.select(StockMove).where(StockMove.serial_unit_id == unit.id)
                                   .order_by(StockMove.at, StockMove.id).options(lazyload("*"))))


def unit_loans(unit: SerialUnit) -> list[Loan]:
    return list(db.session.scalars(sa.select(Loan).where(Loan.unit_id == unit.id).order_by(Loan.lent_at)))


def visible_location_ids(user: User) -> set[int] | None:
    """The places whose stock a user may see; None for everywhere (admins, dispatchers, centre managers).

    Stock keepers and station supervisors: their station's store and vans, and the repair centre
    all stations share; technicians: their van and their station's store (what they can ask for).
    """
    if sees_all_stations(user):
        return None
    ids: set[int] = set()
    if user.role == "technician":
        van = van_of(user)
        if van is not None:
            ids.add(van.id)
        store = store_of(user.station_id)
        if store is not None:
            ids.add(store.id)
        return ids
    ensure_locations()
    ids.update(db.session.scalars(sa.select(Location.id).where(Location.station_id == user.station_id)))
    ids.update(db.session.scalars(sa.select(Location.id).where(Location.kind == "repair")))
    return ids


def may_see_location(user: User, loc: Location) -> bool:
    visible = visible_location_ids(user)
    return visible is None or loc.id in visible


def visible_location(user: User, code: Any) -> Location:
    """A place whose stock the user may see, by code; NotFound for one they may not (or that does not exist)."""
    try:
        loc = location_by_code(code)
    except Invalid:
        loc = None
    if loc is None or not may_see_location(user, loc):
        raise NotFound(str(_l("Unknown location: %(code)s", code=str(code or "")[:60])))
    return loc


def unit_station_id(unit: SerialUnit) -> int | None:
    """The station a unit belongs to now: its place's, or — at a customer, in repair or scrapped —
    the station of the last place with a station it moved from or to."""
    if unit.location.station_id is not None:
        return unit.location.station_id
    to_loc, from_loc = aliased(Location), aliased(Location)
    row = db.session.execute(
        sa.select(to_loc.station_id, from_loc.station_id).select_from(StockMove)
        .outerjoin(to_loc, to_loc.id == StockMove.to_location_id)
        .outerjoin(from_loc, from_loc.id == StockMove.from_location_id)
        .where(StockMove.serial_unit_id == unit.id,
               sa.or_(to_loc.station_id.is_not(None), from_loc.station_id.is_not(None)))
        .order_by(StockMove.at.desc(), StockMove.id.desc()).limit(1)).first()
    if row is None:
        return None
    return row[0] if row[0] is not None else row[1]


def _moved_by(user: User, unit: SerialUnit) -> bool:
    return db.session.scalar(sa.select(StockMove.id).where(
        StockMove.serial_unit_id == unit.id, StockMove.actor_id == user.id).limit(1)) is not None


def may_see_unit(user: User, unit: SerialUnit) -> bool:
    """Whether a user may see a serial unit (and its customer and history).

    Admins, dispatchers, centre managers: every unit. Stock keepers and station supervisors: the
    units at a place they see (their station's store and vans, the repair centre) and the units
    out at customers or scrapped that left from their station. Technicians: the units in their
    van and those they moved themselves — which they do only on their own jobs (parts used,
    loaners lent or taken back, faulty units collected); no other unit, nor its customer.
    """
    if sees_all_stations(user):
        return True
    if user.role == "technician":
        van = van_of(user)
        return (van is not None and unit.location_id == van.id) or _moved_by(user, unit)
    if user.role not in ("stockkeeper", "supervisor"):
        return False
    if unit.location.is_tracked:
        return may_see_location(user, unit.location)
    return in_scope(user, unit_station_id(unit))


def levels_query(user: User, *, location: str | None = None, sku: str | None = None,
                 station_id: int | None = None, category: str | None = None, low_only: bool = False,
                 kind: str | None = None):
    loc = contains_eager(StockLevel.location)
    stmt = (sa.select(StockLevel).join(StockLevel.location).join(StockLevel.item)
            .options(loc, loc.lazyload(Location.station), loc.lazyload(Location.technician),
                     contains_eager(StockLevel.item))
            .order_by(Location.code, Item.sku))
    visible = visible_location_ids(user)
    if visible is not None:
        stmt = stmt.where(StockLevel.location_id.in_(visible or {-1}))
    if location:
        stmt = stmt.where(sa.func.upper(Location.code) == location.strip().upper())
    if sku:
        stmt = stmt.where(Item.sku == sku.strip().upper())
    if station_id:
        stmt = stmt.where(Location.station_id == station_id)
    if category:
        stmt = stmt.where(Item.category == category)
    if kind:
        stmt = stmt.where(Location.kind == kind)
    if low_only:
        stmt = stmt.where(StockLevel.qty < StockLevel.reorder_point)
    return stmt


def level_of(location: Location, item: Item) -> int:
    return db.session.scalar(sa.select(StockLevel.qty).where(
        StockLevel.location_id == location.id, StockLevel.item_id == item.id)) or 0


def units_at(location: Location, item: Item | None = None) -> list[SerialUnit]:
    stmt = sa.select(SerialUnit).where(SerialUnit.location_id == location.id).order_by(SerialUnit.serial)
    if item is not None:
        stmt = stmt.where(SerialUnit.item_id == item.id)
    return list(db.session.scalars(stmt))


# --- locations -------------------------------------------------------------

def ensure_locations() -> int:
    """Create the fixed places, a store per station and a van per technician; returns how many were added.

    Also keeps a van's station in step with its technician's. Safe to call often.
    """
    added = 0
    existing = {code: loc for code, loc in db.session.execute(sa.select(Location.code, Location))}
    for code, kind, name in FIXED_LOCATIONS:
        if code not in existing:
            db.session.add(Location(code=code, kind=kind, name=name))
            added += 1
    stores = {loc.station_id for loc in existing.values() if loc.kind == "store"}
    for st in stations.all_stations():
        if st.id not in stores and st.code not in existing:
            db.session.add(Location(code=st.code, kind="store", name=st.name, station_id=st.id))
            added += 1
    vans = {loc.technician_id: loc for loc in existing.values() if loc.kind == "van"}
    for tech in db.session.scalars(auth.users_query(role="technician")):
        van = vans.get(tech.id)
        if van is None:
            db.session.add(Location(code=f"{VAN_PREFIX}{tech.username}".upper(), kind="van",
                                    name=tech.full_name or tech.username, station_id=tech.station_id,
                                    technician_id=tech.id))
            added += 1
        elif van.station_id != tech.station_id:
            van.station_id = tech.station_id
    if added:
        db.session.flush()
    return added


# --- items -----------------------------------------------------------------

def whole_number(value: Any, name: str, *, lo: int = 0, hi: int = MAX_QTY) -> int:
    """A whole number from JSON or a form field (core.parse's rules: ASCII digits, bounded), or a clear refusal."""
    try:
        number = parse_int(value, name, lo=lo, hi=hi)
    except Invalid as err:
        if err.fields.get(name) == "out_of_range":
            raise Invalid(str(_l("%(name)s must be from %(lo)d to %(hi)d.", name=name, lo=lo, hi=hi)),
                          {name: "out_of_range"}) from None
        number = None
    if number is None:
        raise Invalid(str(_l("%(name)s must be a whole number.", name=name)), {name: "not_integer"})
    return number


def save_item(*, sku: str, name: str, category: str, unit: str = "pcs", is_serialized: bool = False,
              unit_cost: Any = 0, reorder_point: Any = 0, reorder_qty: Any = 0, van_reorder_point: Any = 0,
              actor: User | None = None, name_zh: str | None = None) -> Item:
    """Add an item or update the one with this SKU (a serialized item stays serialized once it has stock)."""
    require_keeper(actor)
    sku = (sku or "").strip().upper()
    if not sku or len(sku) > 40 or not all(c.isalnum() or c in "-_." for c in sku):
        raise Invalid(str(_l("A SKU is 1–40 letters, digits, dashes, dots or underscores.")), {"sku": "invalid"})
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise Invalid(str(_l("Give the item a name (at most 120 characters).")), {"name": "invalid"})
    if name_zh is not None and (not isinstance(name_zh, str) or len(name_zh.strip()) > 120):
        raise Invalid(str(_l("The Chinese name is at most 120 characters.")), {"name_zh": "invalid"})
    if category not in CATEGORIES:
        raise Invalid(str(_l("Unknown category: %(c)s", c=str(category)[:30])), {"category": "unknown"})
    try:
        cost = parse_decimal(unit_cost, "unit_cost", lo=Decimal(0), hi=MAX_UNIT_COST) or Decimal(0)
    except Invalid:
        raise Invalid(str(_l("The unit cost must be a non-negative amount.")), {"unit_cost": "invalid"}) from None
    values = dict(name=name, category=category, unit=(unit or "pcs").strip()[:10] or "pcs",
                  unit_cost=cost,
                  reorder_point=whole_number(reorder_point or 0, "reorder_point"),
                  reorder_qty=whole_number(reorder_qty or 0, "reorder_qty"),
                  van_reorder_point=whole_number(van_reorder_point or 0, "van_reorder_point"))
    if name_zh is not None:  # None: keep the Chinese name an update (the CSV import, the API) does not give
        values["name_zh"] = name_zh.strip()
    item = db.session.scalar(sa.select(Item).where(Item.sku == sku))
    if item is None:
        item = Item(sku=sku, is_serialized=bool(is_serialized), **values)
        db.session.add(item)
    else:
        if bool(is_serialized) != item.is_serialized and db.session.scalar(
                sa.select(StockMove.id).where(StockMove.item_id == item.id).limit(1)) is not None:
            raise Conflict(str(_l("%(sku)s has moves already; it cannot change between serialized and not.",
                                  sku=sku)), {"is_serialized": "has_moves"})
        item.is_serialized = bool(is_serialized)
        for k, v in values.items():
            setattr(item, k, v)
    db.session.flush()
    audit.record("inventory.item.save", "inventory_item", item.id, actor=actor, sku=sku)
    return item


def home_of(actor: User) -> str:
    loc = van_of(actor) if actor.role == "technician" else store_of(actor.station_id)
    if loc is None:
        raise Invalid(str(_l("Say where the unit goes.")), {"to": "required"})
    return loc.code


def require_keeper(actor: User) -> None:
    if actor is None or actor.role not in ("admin", "stockkeeper"):
        raise Forbidden(str(_l("Only stock keepers and admins may do that.")))
