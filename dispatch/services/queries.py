"""Finding orders: the API's filters, the dispatcher's queues and search, a customer's history."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.auth import User
from core.customers import Customer
from core.db import now
from core.errors import Invalid, NotFound
from core.extensions import db
from core.stations import Station, station_by_code
from dispatch.models import OPEN_STATUSES, STATUSES, WAITING_STATUSES, RepairOrder

QUEUES = ("unassigned", "needs_location", "due_soon", "overdue", "waiting", "open", "all")
QUEUE_LABELS = {"unassigned": _l("Unassigned"), "needs_location": _l("Needs location"),
                "due_soon": _l("Due soon"), "overdue": _l("Overdue"), "waiting": _l("Waiting"),
                "open": _l("All open"), "all": _l("All")}


def _scoped(stmt: Any, actor: User) -> Any:
    if actor.role == "technician":
        return stmt.where(RepairOrder.technician_id == actor.id)
    if actor.role == "supervisor" and not actor.is_centre_manager:
        return stmt.where(RepairOrder.station_id == actor.station_id)
    if actor.role not in ("admin", "dispatcher", "supervisor"):
        return stmt.where(sa.false())
    return stmt


def _overdue_clause() -> Any:
    # paused orders are not overdue while they wait on the customer
    return sa.and_(RepairOrder.status.in_(OPEN_STATUSES), RepairOrder.paused_at.is_(None),
                   RepairOrder.deadline_at <= now())


def _due_soon_clause() -> Any:
    return sa.and_(RepairOrder.status.in_(OPEN_STATUSES), RepairOrder.paused_at.is_(None),
                   RepairOrder.deadline_at > now(), RepairOrder.warn_at <= now())


def queue_clause(queue: str) -> Any:
    return {
        "unassigned": sa.and_(RepairOrder.status == "new", RepairOrder.needs_location.is_(False)),
        "needs_location": sa.and_(RepairOrder.needs_location.is_(True), RepairOrder.status == "new"),
        "due_soon": _due_soon_clause(),
        "overdue": _overdue_clause(),
        "waiting": RepairOrder.status.in_(WAITING_STATUSES),
        "open": RepairOrder.status.in_(OPEN_STATUSES),
        "all": sa.true(),
    }[queue]


def _bbox(raw: str) -> tuple[float, float, float, float]:
    try:
        minlon, minlat, maxlon, maxlat = (float(x) for x in raw.split(","))
    except ValueError:
        raise Invalid(str(_l("bbox is minlon,minlat,maxlon,maxlat.")), {"bbox": "malformed"}) from None
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
        tech_id = int(technician) if technician.isdigit() else db.session.scalar(
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
        clause = _overdue_clause()
        stmt = stmt.where(clause if overdue.lower() in ("true", "1") else sa.not_(clause))
    if queue:
        if queue not in QUEUES:
            raise Invalid(str(_l("Unknown queue.")), {"queue": "unknown"})
        stmt = stmt.where(queue_clause(queue))
    if q and q.strip():
        term = q.strip()
        like = f"%{term}%"
        stmt = stmt.join(Customer, Customer.id == RepairOrder.customer_id).where(sa.or_(
            RepairOrder.number == term.upper(), RepairOrder.address.like(like), Customer.name.like(like),
            Customer.phone.like(like), Customer.account_no == term))
    return stmt.order_by(RepairOrder.reported_at.desc(), RepairOrder.id.desc())


def queue_counts(actor: User) -> dict[str, int]:
    base = _scoped(sa.select(sa.func.count()).select_from(RepairOrder), actor)
    return {name: db.session.scalar(base.where(queue_clause(name))) or 0 for name in QUEUES if name != "all"}


def station_board(actor: User) -> list[dict[str, Any]]:
    """Per station: open orders, unassigned, overdue."""
    stmt = _scoped(sa.select(
        Station.code, Station.name,
        sa.func.count(RepairOrder.id),
        sa.func.sum(sa.case((RepairOrder.status == "new", 1), else_=0)),
        sa.func.sum(sa.case((_overdue_clause(), 1), else_=0)),
    ).join(RepairOrder, RepairOrder.station_id == Station.id).where(RepairOrder.status.in_(OPEN_STATUSES))
        .group_by(Station.code, Station.name).order_by(Station.code), actor)
    return [{"code": c, "name": n, "open": o, "unassigned": int(u or 0), "overdue": int(d or 0)}
            for c, n, o, u, d in db.session.execute(stmt)]


def customer_history(customer_id: int) -> list[RepairOrder]:
    return list(db.session.scalars(sa.select(RepairOrder).where(RepairOrder.customer_id == customer_id)
                                   .order_by(RepairOrder.reported_at.desc())))


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
