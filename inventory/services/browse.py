"""Browsing the ledger and the serial units: filters from a query string, scoped lists, CSV of the ledger.

The lists show what the viewer's station scope holds (core.access): a station's people see the
moves that touched one of their station's places, and the units `may_see_unit` lets them see.
Each list is one query with its joins (and a count for the pager), newest move first on the
ledger's (at, id) index.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Iterable, Mapping

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_sqlalchemy.pagination import SelectPagination
from sqlalchemy.orm import aliased, contains_eager

from core import csvsafe
from core.access import scope_clause, sees_all_stations, station_scope
from core.auth import User
from core.errors import Invalid, recovered
from core.extensions import db
from core.i18n import iso_local
from core.parse import is_digits, parse_date, parse_id
from core.sorting import Sort, parse_sort
from inventory.models import (
    MOVE_TYPES,
    ORDER_NUMBERS,
    TRACKED_KINDS,
    UNIT_STATUSES,
    Item,
    Loan,
    Location,
    SerialUnit,
    StockMove,
)
from inventory.services.catalogue import may_see_location, van_of, visible_location_ids

PER_PAGE = 50
MAX_TEXT = 60  # a serial number's or an order number's length, and then some


class RowPagination(SelectPagination):
    """db.paginate for a select of columns: its rows, not only their first column."""

    def _query_items(self) -> list[Any]:
        select = self._query_args["select"].limit(self.per_page).offset(self._query_offset)
        return list(self._query_args["session"].execute(select).all())


def paginate_rows(stmt: Any) -> RowPagination:
    return within(lambda page: RowPagination(select=stmt, session=db.session(), page=page, per_page=PER_PAGE,
                                             max_per_page=PER_PAGE, error_out=False))


def paginate(stmt: Any) -> Any:
    """db.paginate of entities, PER_PAGE a page."""
    return within(lambda page: db.paginate(stmt, page=page, per_page=PER_PAGE, max_per_page=PER_PAGE,
                                           error_out=False))


def within(make: Any) -> Any:
    """The page the query string asks for; past the last page (an old link), the last page."""
    pager = make(None)
    if pager.pages and pager.page > pager.pages:
        pager = make(pager.pages)
    return pager


# --- filters ---------------------------------------------------------------

@dataclass
class Filters:
    """What the filter form asked for: the raw values (shown back as typed), what they name, and
    a message for each field that names nothing the viewer may filter by."""

    raw: dict[str, str] = field(default_factory=dict)
    location: Location | None = None
    item: Item | None = None
    move_type: str | None = None
    status: str | None = None
    first_day: date | None = None
    last_day: date | None = None
    order: str | None = None
    q: str | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def args(self) -> dict[str, str]:
        """The query string that asks for these filters again (pager links, the CSV export)."""
        return {k: v for k, v in self.raw.items() if v}


def filter_places(viewer: User) -> list[Location]:
    """The places the viewer may filter by: the stores, vans and repair centre of their scope."""
    stmt = sa.select(Location).where(Location.kind.in_(TRACKED_KINDS)).order_by(Location.kind, Location.code)
    visible = visible_location_ids(viewer)
    if visible is not None:
        stmt = stmt.where(Location.id.in_(visible or {-1}))
    return list(db.session.scalars(stmt))


def options(f: Filters, name: str, choices: Iterable[tuple[Any, Any]], everything: Any) -> list[tuple[str, str]]:
    """A filter select's options: "everything" first, then the choices; a refused value is kept
    as the last option (selected), so the form shows what was asked for beside its message."""
    out = [("", str(everything))] + [(str(v), str(text)) for v, text in choices]
    if f.errors.get(name) and f.raw.get(name) and f.raw[name] not in {v for v, _t in out}:
        out.append((f.raw[name], f.raw[name]))
    return out


def _text(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    return value.strip()[:200] if isinstance(value, str) else ""


def _id(f: Filters, name: str) -> int | None:
    """An id field: a whole number, or a message next to the field (the request carries on)."""
    try:
        return parse_id(f.raw[name], name)
    except Invalid as err:
        recovered(err)
        f.errors[name] = str(_l("Choose one from the list."))
        return None


def _day(f: Filters, name: str) -> date | None:
    try:
        return parse_date(f.raw[name], name)
    except Invalid as err:
        recovered(err)
        f.errors[name] = str(_l("A date from 2000 to 2100, written YYYY-MM-DD."))
        return None


def parse_filters(viewer: User, args: Mapping[str, Any], *, ledger: bool) -> Filters:
    """The moves list's (ledger=True) or the units list's filters. Never raises: a bad value gets
    its message in `errors` under its field's name, and the list shows nothing until it is fixed."""
    names = ("location", "item", "type", "from", "to", "order") if ledger else ("q", "status", "location", "item")
    f = Filters(raw={name: _text(args, name) for name in names})
    if f.raw["location"]:
        loc_id = _id(f, "location")
        loc = db.session.get(Location, loc_id) if loc_id else None
        if loc_id and (loc is None or not loc.is_tracked or not may_see_location(viewer, loc)):
            # another station's place is answered as no place at all: its id cannot be probed
            f.errors["location"] = str(_l("None of your stores, vans or the repair centre has this id."))
        elif loc is not None:
            f.location = loc
    if f.raw["item"]:
        item_id = _id(f, "item")
        item = db.session.get(Item, item_id) if item_id else None
        if item_id and item is None:
            f.errors["item"] = str(_l("No item has this id."))
        f.item = item
    if ledger:
        if f.raw["type"]:
            if f.raw["type"] in MOVE_TYPES:
                f.move_type = f.raw["type"]
            else:
                f.errors["type"] = str(_l("Choose one from the list."))
        if f.raw["from"]:
            f.first_day = _day(f, "from")
        if f.raw["to"]:
            f.last_day = _day(f, "to")
        if f.first_day and f.last_day and f.last_day < f.first_day:
            f.errors["to"] = str(_l("The last day is before the first day."))
        if f.raw["order"]:
            if len(f.raw["order"]) > MAX_TEXT:
                f.errors["order"] = str(_l("An order number has at most %(n)d characters.", n=MAX_TEXT))
            else:
                f.order = f.raw["order"].upper()
    else:
        if f.raw["status"]:
            if f.raw["status"] in UNIT_STATUSES:
                f.status = f.raw["status"]
            else:
                f.errors["status"] = str(_l("Choose one from the list."))
        if f.raw["q"]:
            if len(f.raw["q"]) > MAX_TEXT:
                f.errors["q"] = str(_l("A serial number has 1–60 characters."))
            else:
                f.q = f.raw["q"].upper()
    return f


# --- the ledger ------------------------------------------------------------

def moves_query(viewer: User, f: Filters, zone: tzinfo):
    """The ledger's lines as rows, newest first, with what a person reads: item, serial, places by
    code, the order by its number, who by name. One query; filters and the viewer's scope in SQL."""
    src, dst = aliased(Location), aliased(Location)
    stmt = (sa.select(StockMove.id, StockMove.at, StockMove.type, StockMove.qty, StockMove.reason,
                      StockMove.order_id, ORDER_NUMBERS.c.number.label("order_number"),
                      Item.sku, Item.name.label("item_name"), Item.name_zh.label("item_name_zh"), Item.unit, SerialUnit.serial,
                      src.code.label("from_code"), dst.code.label("to_code"),
                      User.username, User.full_name)
            .select_from(StockMove)
            .join(Item, Item.id == StockMove.item_id)
            .outerjoin(SerialUnit, SerialUnit.id == StockMove.serial_unit_id)
            .outerjoin(src, src.id == StockMove.from_location_id)
            .outerjoin(dst, dst.id == StockMove.to_location_id)
            .outerjoin(User, User.id == StockMove.actor_id)
            .outerjoin(ORDER_NUMBERS, ORDER_NUMBERS.c.id == StockMove.order_id)
            .order_by(StockMove.at.desc(), StockMove.id.desc()))
    if station_scope(viewer) is not None:  # a move is the station's when one of its sides is
        stmt = stmt.where(sa.or_(scope_clause(viewer, src.station_id), scope_clause(viewer, dst.station_id)))
    if f.location is not None:
        stmt = stmt.where(sa.or_(StockMove.from_location_id == f.location.id,
                                 StockMove.to_location_id == f.location.id))
    if f.item is not None:
        stmt = stmt.where(StockMove.item_id == f.item.id)
    if f.move_type:
        stmt = stmt.where(StockMove.type == f.move_type)
    if f.first_day:
        stmt = stmt.where(StockMove.at >= datetime.combine(f.first_day, time(), zone))
    if f.last_day:  # inclusive: the whole last day counts
        stmt = stmt.where(StockMove.at < datetime.combine(f.last_day + timedelta(days=1), time(), zone))
    if f.order:
        stmt = stmt.where(ORDER_NUMBERS.c.number == f.order)
    return stmt


def moves_sorted(stmt: Any, raw: Any) -> tuple[Any, Sort]:
    """The ledger's rows in the order `sort` asks for (newest first by default), id breaking ties.
    The columns are those moves_query selects (its joined places, order number and person)."""
    cols = {c.key: c for c in stmt.selected_columns}
    columns = {"at": StockMove.at, "type": StockMove.type, "item": cols["sku"], "qty": StockMove.qty,
               "serial": cols["serial"], "from": cols["from_code"], "to": cols["to_code"],
               "order": cols["order_number"], "by": sa.func.coalesce(sa.func.nullif(cols["full_name"], ""),
                                                                     cols["username"])}
    sort = parse_sort(raw, columns, "-at")
    return sort.apply(stmt, StockMove.id), sort


def units_sorted(stmt: Any, raw: Any) -> tuple[Any, Sort]:
    """The units in the order `sort` asks for (by serial by default), id breaking ties."""
    columns = {"serial": SerialUnit.serial, "sku": Item.sku, "item": Item.name, "status": SerialUnit.status,
               "location": Location.code, "updated": SerialUnit.updated_at}
    sort = parse_sort(raw, columns, "serial")
    return sort.apply(stmt, SerialUnit.id), sort


def loans_sorted(stmt: Any, raw: Any) -> tuple[Any, Sort]:
    """The loans in the order `sort` asks for (soonest due first by default), id breaking ties."""
    from core.customers import Customer
    from core.stations import Station

    stmt = (stmt.join(SerialUnit, SerialUnit.id == Loan.unit_id).join(Customer, Customer.id == Loan.customer_id)
            .outerjoin(Station, Station.id == Loan.station_id))
    columns = {"serial": SerialUnit.serial, "customer": Customer.account_no, "lent": Loan.lent_at,
               "due": Loan.due_at, "station": Station.code}
    sort = parse_sort(raw, columns, "due")
    return sort.apply(stmt, Loan.id), sort


def person(row: Any) -> str:
    return (row.full_name or row.username or "") if row.username else ""


def export_moves_csv(rows: Iterable[Any]) -> str:
    buf = io.StringIO()
    writer = csvsafe.writer(buf)
    writer.writerow(["at", "type", "sku", "name", "qty", "serial", "from", "to", "order", "by", "reason"])
    for r in rows:
        writer.writerow([iso_local(r.at), r.type, r.sku, r.item_name, r.qty, r.serial or "", r.from_code or "",
                         r.to_code or "", r.order_number or (r.order_id or ""), person(r), r.reason])
    return buf.getvalue()


def order_numbers(order_ids: Iterable[int | None]) -> dict[int, str]:
    """The numbers of these repair orders (inventory keeps orders by id): one query for a page."""
    ids = {i for i in order_ids if i}
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(ORDER_NUMBERS.c.id, ORDER_NUMBERS.c.number)
                                   .where(ORDER_NUMBERS.c.id.in_(ids))).all())


def order_id_from(text: Any) -> int | None:
    """The order a person names by its number (or by its id, as older forms did); None for none."""
    if not isinstance(text, str) or not text.strip():
        return None
    if is_digits(text):
        return parse_id(text, "order")
    number = text.strip().upper()[:MAX_TEXT]
    order_id = db.session.scalar(sa.select(ORDER_NUMBERS.c.id).where(ORDER_NUMBERS.c.number == number))
    if order_id is None:
        raise Invalid(str(_l("No order has the number %(number)s.", number=number)), {"order": "unknown"})
    return order_id


# --- serial units ----------------------------------------------------------

def units_query(viewer: User, f: Filters):
    """The serial units the viewer may see (`may_see_unit`, as SQL), by serial, with item and place."""
    place = contains_eager(SerialUnit.location)
    stmt = (sa.select(SerialUnit).join(SerialUnit.location).join(SerialUnit.item)
            .options(place, place.lazyload(Location.station), place.lazyload(Location.technician),
                     contains_eager(SerialUnit.item))
            .order_by(SerialUnit.serial))
    stmt = stmt.where(_may_see_units(viewer))
    if f.q:
        stmt = stmt.where(SerialUnit.serial.contains(f.q, autoescape=True))  # % and _ are literal
    if f.status:
        stmt = stmt.where(SerialUnit.status == f.status)
    if f.location is not None:
        stmt = stmt.where(SerialUnit.location_id == f.location.id)
    if f.item is not None:
        stmt = stmt.where(SerialUnit.item_id == f.item.id)
    return stmt


def _may_see_units(viewer: User) -> Any:
    """catalogue.may_see_unit as a SQL condition on SerialUnit joined with its Location."""
    if sees_all_stations(viewer):
        return sa.true()
    if viewer.role == "technician":
        van = van_of(viewer)
        moved = sa.exists().where(StockMove.serial_unit_id == SerialUnit.id, StockMove.actor_id == viewer.id)
        return sa.or_(SerialUnit.location_id == (van.id if van else -1), moved)
    if viewer.role not in ("stockkeeper", "supervisor"):
        return sa.false()
    tracked = Location.kind.in_(TRACKED_KINDS)
    # at a customer or scrapped: the station of the last place with a station it moved from or to
    to_loc, from_loc = aliased(Location), aliased(Location)
    last_station = (sa.select(sa.func.coalesce(to_loc.station_id, from_loc.station_id))
                    .select_from(StockMove)
                    .outerjoin(to_loc, to_loc.id == StockMove.to_location_id)
                    .outerjoin(from_loc, from_loc.id == StockMove.from_location_id)
                    .where(StockMove.serial_unit_id == SerialUnit.id,
                           sa.or_(to_loc.station_id.is_not(None), from_loc.station_id.is_not(None)))
                    .order_by(StockMove.at.desc(), StockMove.id.desc()).limit(1)
                    .correlate(SerialUnit).scalar_subquery())
    visible = visible_location_ids(viewer) or {-1}
    return sa.or_(sa.and_(tracked, SerialUnit.location_id.in_(visible)),
                  sa.and_(~tracked, scope_clause(viewer, last_station)))
