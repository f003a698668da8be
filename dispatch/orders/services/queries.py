"""Finding orders: the API's filters, the dispatcher's queues and search, a customer's history."""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.access import scope_clause, sees_all_stations
from core.auth import User
from core.customers import Customer, phone_is
from core.errors import Invalid, NotFound
from core.extensions import db
from core.i18n import current_language
from core.sorting import parse_sort
from core.parse import is_digits, parse_float, parse_id
from core.stations import Station, station_by_code
from dispatch.orders.services.assignment import staffed_station_ids
from dispatch.orders.models import (STATUSES, WAITING_STATUSES, Category, RepairOrder, due_soon_clause,
                                    overdue_clause)

QUEUES = ("unassigned", "needs_location", "unstaffed", "due_soon", "overdue", "waiting", "open", "all")
QUEUE_LABELS = {"unassigned": _l("Unassigned"), "needs_location": _l("Needs location"),
                "unstaffed": _l("No one on shift"),
                "due_soon": _l("Due soon"), "overdue": _l("Overdue"), "waiting": _l("Waiting"),
                "open": _l("All open"), "all": _l("All")}


def _scoped(stmt: Any, actor: User) -> Any:
    """The orders `may_see` admits, as SQL: technicians their own, staff their station scope."""
    if actor.role == "technician":
        return stmt.where(RepairOrder.technician_id == actor.id)
    if actor.role not in ("admin", "dispatcher", "supervisor"):
        return stmt.where(sa.false())
    return stmt if sees_all_stations(actor) else stmt.where(scope_clause(actor, RepairOrder.station_id))


def queue_clause(queue: str, at: datetime | None = None) -> Any:
    """The queue's WHERE term; due soon and overdue by the orders' deadline state at `at` (now)."""
    return {
        "unassigned": sa.and_(RepairOrder.status == "new", RepairOrder.needs_location.is_(False)),
        "needs_location": sa.and_(RepairOrder.needs_location.is_(True), RepairOrder.status == "new"),
        # placed, waiting, at a station with no technician on duty: the station supervisor's to solve
        "unstaffed": sa.and_(RepairOrder.status == "new", RepairOrder.needs_location.is_(False),
                             RepairOrder.station_id.is_not(None),
                             RepairOrder.station_id.not_in(staffed_station_ids())),
        "due_soon": due_soon_clause(at),
        "overdue": overdue_clause(at),
        "waiting": RepairOrder.status.in_(WAITING_STATUSES),
        "open": RepairOrder.is_open,
        "all": sa.true(),
    }[queue]


def _bbox(raw: str) -> tuple[float, float, float, float]:
    try:
        minlon, minlat, maxlon, maxlat = (parse_float(x, "bbox", lo=-math.inf, hi=math.inf, text=True)
                                          for x in raw.split(","))
    except (Invalid, ValueError):
        raise Invalid(str(_l("bbox is minlon,minlat,maxlon,maxlat.")), {"bbox": "malformed"}) from None
    if None in (minlon, minlat, maxlon, maxlat):
        raise Invalid(str(_l("bbox is minlon,minlat,maxlon,maxlat.")), {"bbox": "malformed"})
    if not (-180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90):
        raise Invalid(str(_l("bbox is minlon,minlat,maxlon,maxlat.")), {"bbox": "range"})
    return minlon, minlat, maxlon, maxlat


def orders_query(actor: User, *, status: str | None = None, station: str | None = None,
                 technician: str | None = None, bbox: str | None = None, overdue: str | None = None,
                 queue: str | None = None, q: str | None = None) -> Any:
    """A select of the orders the actor may see, newest first, filtered; bad filters are Invalid."""
    stmt = _scoped(sa.select(RepairOrder), actor)
    if status:
        wanted = [s.strip() for s in status.split(",") if s.strip()]
        if any(s not in STATUSES for s in wanted):
            raise Invalid(str(_l("Unknown status.")), {"status": "unknown"})
        stmt = stmt.where(RepairOrder.status.in_(wanted))
    if station:
        st = station_by_code(station)
        if st is None:
            raise NotFound(str(_l("No such station.")), {"station": "unknown"})
        stmt = stmt.where(RepairOrder.station_id == st.id)
    if technician:
        # an id (ASCII digits, within an id's range) or a username
        tech_id = parse_id(technician, "technician") if is_digits(technician) else db.session.scalar(
            sa.select(User.id).where(User.username == technician.strip().lower()))
        if tech_id is None:
            raise NotFound(str(_l("No such technician.")), {"technician": "unknown"})
        stmt = stmt.where(RepairOrder.technician_id == tech_id)
    if bbox:
        minlon, minlat, maxlon, maxlat = _bbox(bbox)
        stmt = stmt.where(RepairOrder.lon.between(minlon, maxlon), RepairOrder.lat.between(minlat, maxlat))
    if overdue not in (None, ""):
        if overdue.lower() not in ("true", "false", "1", "0"):
            raise Invalid(str(_l("overdue is true or false.")), {"overdue": "not_boolean"})
        clause = overdue_clause()
        stmt = stmt.where(clause if overdue.lower() in ("true", "1") else sa.not_(clause))
    if queue:
        if queue not in QUEUES:
            raise Invalid(str(_l("Unknown queue.")), {"queue": "unknown"})
        stmt = stmt.where(queue_clause(queue))
    if q and q.strip():
        term = q.strip()
        # fragments of text, literally (autoescape: % and _ are no wildcards); a phone only whole (phone_is)
        stmt = stmt.join(Customer, Customer.id == RepairOrder.customer_id).where(sa.or_(
            RepairOrder.number == term.upper(), RepairOrder.address.contains(term, autoescape=True),
            Customer.name.contains(term, autoescape=True), phone_is(term), Customer.account_no == term))
    return stmt.order_by(RepairOrder.reported_at.desc(), RepairOrder.id.desc())


def order_sort_columns() -> dict[str, Any]:
    """The columns an orders list sorts by (core.sorting), as SQL: what the list shows, not its ids.
    The deadline is the stored one (a paused order's moves on only while it waits)."""
    def of(col: Any, key: Any) -> Any:
        return sa.select(col).where(key).correlate(RepairOrder).scalar_subquery()
    return {"number": RepairOrder.number, "status": RepairOrder.status, "reported": RepairOrder.reported_at,
            "deadline": RepairOrder.deadline_at, "address": RepairOrder.address,
            "resolved": RepairOrder.resolved_at,
            "category": of(Category.code, Category.id == RepairOrder.category_id),
            "customer": of(Customer.name, Customer.id == RepairOrder.customer_id),
            "station": of(Station.code, Station.id == RepairOrder.station_id),
            "technician": of(sa.func.coalesce(sa.func.nullif(User.full_name, ""), User.username),
                             User.id == RepairOrder.technician_id)}


def sort_orders(stmt: Any, raw: Any, default: str = "-reported") -> tuple[Any, Any]:
    """The select in the order the query string's `sort` asks for, and the Sort (for the headers)."""
    sort = parse_sort(raw, order_sort_columns(), default)
    return sort.apply(stmt, RepairOrder.id), sort


def queue_counts(actor: User) -> dict[str, int]:
    base = _scoped(sa.select(sa.func.count()).select_from(RepairOrder), actor)
    return {name: db.session.scalar(base.where(queue_clause(name))) or 0 for name in QUEUES if name != "all"}


def station_board(actor: User) -> list[dict[str, Any]]:
    """Per station: open orders, unassigned, overdue."""
    stmt = _scoped(sa.select(
        Station.code, Station.name, Station.name_zh,
        sa.func.count(RepairOrder.id),
        sa.func.sum(sa.case((RepairOrder.status == "new", 1), else_=0)),
        sa.func.sum(sa.case((overdue_clause(), 1), else_=0)),
    ).join(RepairOrder, RepairOrder.station_id == Station.id).where(RepairOrder.is_open)
        .group_by(Station.code, Station.name, Station.name_zh).order_by(Station.code), actor)
    zh = current_language().startswith("zh")
    return [{"code": c, "name": (nz if zh and nz else n), "open": o, "unassigned": int(u or 0),
             "overdue": int(d or 0)} for c, n, nz, o, u, d in db.session.execute(stmt)]


def customer_history(customer_id: int, actor: User | None = None) -> list[RepairOrder]:
    """The customer's orders, newest first; with an actor, only those the actor may see."""
    stmt = sa.select(RepairOrder).where(RepairOrder.customer_id == customer_id)
    if actor is not None:
        stmt = _scoped(stmt, actor)
    return list(db.session.scalars(stmt.order_by(RepairOrder.reported_at.desc())))


def customer_for(customer_id: Any, actor: User) -> Customer:
    """A customer whose page the actor may open, or NotFound (as for a wrong id).

    Those who see every station see every customer. A station's supervisor sees the customers
    with an order at their station — the history they work with — and no others; other roles
    (technicians, stock keepers) never browse customers.
    """
    customer = db.session.get(Customer, customer_id) if isinstance(customer_id, int) else None
    if customer is not None and actor.role in ("admin", "dispatcher", "supervisor") and (
            sees_all_stations(actor) or db.session.scalar(_scoped(
                sa.select(RepairOrder.id).where(RepairOrder.customer_id == customer.id), actor).limit(1))):
        return customer
    raise NotFound(str(_l("No such customer.")))


def repeat_addresses(orders: list[RepairOrder], window: timedelta = timedelta(days=30)) -> set[int]:
    """Ids of fault orders that follow another fault at the same address within the window."""
    faults = sorted((o for o in orders if o.kind == "fault"), key=lambda o: o.reported_at)
    out: set[int] = set()
    for i, later in enumerate(faults):
        for earlier in faults[:i]:
            if (earlier.address or "").strip().lower() == (later.address or "").strip().lower() \
                    and later.reported_at - earlier.reported_at <= window:
                out.update((earlier.id, later.id))
    return out
