"""The dispatcher's live map: the open-orders GeoJSON feed and the map's reference layers.

The feed is one indexed SELECT (open orders inside a bounding box, joined to their station,
category and technician), whose rows become plain dicts serialised by one ``json.dumps``:
no ORM objects, no per-row queries, so its cost grows only with the number of rows.

Deadline state (``sla_state``) is the orders' own rule (``RepairOrder.sla_state`` in
dispatch/orders/models.py, here in its SQL form): judged at ``t`` = now, or the moment the clock
stopped for a paused order (its state is frozen there):

- ``overdue``  when ``t >= deadline_at`` (exactly at the deadline counts as overdue);
- ``due_soon`` when ``warn_at <= t < deadline_at`` (exactly at the warning lead counts);
- ``ok``       before ``warn_at``.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from core.access import scope_clause
from core.auth import User
from core.db import now
from core.errors import Forbidden, Invalid, recovered
from core.extensions import db
from core.stations import Station
from dispatch.orders.models import (CLOSED_STATUSES, KINDS, OPEN_STATUSES, SERVICE_LINES, SLA_STATES, Category,
                                    RepairOrder, TechnicianDuty, pause_shift)
from dispatch.orders.services.assignment import rank_technicians
from dispatch.orders.services.orders import ASSIGNABLE, check_may_see, require_manager

FILTERS = ("station", "status", "kind", "sla_state", "service_line")

# The feed's bbox query uses ix_repair_orders_open_lon_lat (declared with the table in
# dispatch/orders/models.py).

_BBOX_MESSAGE = _l("bbox is minlon,minlat,maxlon,maxlat in degrees (WGS 84), west/south first.")


def parse_bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    """``minlon,minlat,maxlon,maxlat`` → floats; None when absent. Edges are inclusive.

    Invalid when it is not four finite numbers, out of range, or min > max (a box across the
    antimeridian is not supported: no operator straddles it).
    """
    if raw is None or raw.strip() == "":
        return None
    parts = raw.split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        box = tuple(float(p) for p in parts)
    except ValueError:
        raise Invalid(str(_BBOX_MESSAGE), {"bbox": "malformed"}) from None
    minlon, minlat, maxlon, maxlat = box
    if any(v != v or v in (float("inf"), float("-inf")) for v in box):
        raise Invalid(str(_BBOX_MESSAGE), {"bbox": "malformed"})
    if not (-180 <= minlon <= maxlon <= 180 and -90 <= minlat <= maxlat <= 90):
        raise Invalid(str(_BBOX_MESSAGE), {"bbox": "out_of_range"})
    return minlon, minlat, maxlon, maxlat


def _choices(raw: str | None, name: str, allowed: tuple[str, ...] | None, max_len: int = 40) -> list[str]:
    """A comma-separated filter value → its items; Invalid for an unknown one."""
    if raw is None or raw.strip() == "":
        return []
    items = [v.strip() for v in raw.split(",") if v.strip()]
    if len(items) > 50 or any(len(v) > max_len for v in items):
        raise Invalid(str(_l("Too many or too long values for %(name)s.", name=name)), {name: "too_long"})
    if allowed is not None and any(v not in allowed for v in items):
        raise Invalid(str(_l("Unknown %(name)s.", name=name)), {name: "unknown"})
    return items


def feed_query(actor: User, args: dict[str, str | None], at: datetime | None = None) -> Any:
    """The SELECT behind the feed: validated filters (Invalid on bad input), no I/O."""
    at = at or now()
    box = parse_bbox(args.get("bbox"))
    stations = [s.upper() for s in _choices(args.get("station"), "station", None, max_len=20)]
    statuses = _choices(args.get("status"), "status", OPEN_STATUSES)
    kinds = _choices(args.get("kind"), "kind", KINDS)
    states = _choices(args.get("sla_state"), "sla_state", SLA_STATES)
    lines = _choices(args.get("service_line"), "service_line", SERVICE_LINES)
    sla = RepairOrder.sla_state(at).label("sla_state")
    stmt = (sa.select(RepairOrder.id, RepairOrder.number, RepairOrder.status, RepairOrder.kind,
                      RepairOrder.lon, RepairOrder.lat, RepairOrder.deadline_at, RepairOrder.paused_at,
                      sla, Station.code, Category.code, User.username, User.full_name)
            .join(Category, Category.id == RepairOrder.category_id)
            .outerjoin(Station, Station.id == RepairOrder.station_id)
            .outerjoin(User, User.id == RepairOrder.technician_id)
            .where(RepairOrder.is_open, RepairOrder.lon.is_not(None)))
    if box:
        minlon, minlat, maxlon, maxlat = box
        stmt = stmt.where(RepairOrder.lon.between(minlon, maxlon), RepairOrder.lat.between(minlat, maxlat))
    if stations:
        stmt = stmt.where(Station.code.in_(stations))
    if statuses:
        stmt = stmt.where(RepairOrder.status.in_(statuses))
    if kinds:
        stmt = stmt.where(RepairOrder.kind.in_(kinds))
    if lines:
        stmt = stmt.where(Category.service_line.in_(lines))
    if states:
        stmt = stmt.where(RepairOrder.sla_state(at).in_(states))
    # soonest deadline as it stands first (a paused order's moves on; the time left on its clock does not)
    # the station scope (core.access); the routes admit only staff, who see their scope's orders
    stmt = stmt.where(scope_clause(actor, RepairOrder.station_id))
    return stmt.order_by(RepairOrder.seconds_left(at), RepairOrder.id)


def orders_geojson(actor: User, args: dict[str, str | None]) -> str:
    """Open orders as a GeoJSON FeatureCollection (a JSON string), soonest deadline first.

    Properties: id, number, status, kind, station (code), deadline_at (ISO 8601 in the
    operator's zone, with offset; a paused order's deadline moves on while it waits), sla_state,
    category (code), technician (username or null) and technician_name (the full name, else the username).
    Bad filters raise Invalid.
    """
    at = now()
    rows = db.session.execute(feed_query(actor, args, at)).all()
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    features = []
    # coordinates to 6 decimals (~0.1 m): what a geocoder or a phone gives, and a smaller payload
    for (id_, number, status, kind, lon, lat, deadline, paused_at, sla_state, station, category,
         technician, technician_name) in rows:
        deadline = deadline + pause_shift(paused_at, at)  # as it stands (RepairOrder.effective_deadline)
        features.append({"type": "Feature", "id": id_,
                         "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
                         "properties": {"id": id_, "number": number, "status": status, "kind": kind,
                                        "station": station,
                                        "deadline_at": deadline.astimezone(zone).isoformat(timespec="seconds"),
                                        "sla_state": sla_state, "category": category, "technician": technician,
                                        "technician_name": (technician_name or technician) if technician else None}})
    return json.dumps({"type": "FeatureCollection", "generated_at": at.astimezone(zone).isoformat(timespec="seconds"),
                       "count": len(features), "features": features}, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- the page's layers

def map_stations(actor: User) -> list[Station]:
    """The stations the actor's scope holds (core.access), by code."""
    return list(db.session.scalars(sa.select(Station).where(scope_clause(actor, Station.id)).order_by(Station.code)))


def technicians_on_map(actor: User) -> list[dict[str, Any]]:
    """Technicians with a known position: where, on duty or not, and their open orders and points.

    Two queries whatever the number of technicians (positions, then open load grouped).
    """
    stmt = (sa.select(User.id, User.username, User.full_name, Station.code, TechnicianDuty.on_duty,
                      TechnicianDuty.last_lat, TechnicianDuty.last_lon, TechnicianDuty.last_at)
            .join(TechnicianDuty, TechnicianDuty.user_id == User.id)
            .outerjoin(Station, Station.id == User.station_id)
            .where(User.role == "technician", User.is_enabled.is_(True), TechnicianDuty.last_lat.is_not(None))
            .where(scope_clause(actor, User.station_id))
            .order_by(User.username))
    techs = db.session.execute(stmt).all()
    ids = [t.id for t in techs]
    load: dict[int, tuple[int, float]] = {}
    if ids:
        load = {tid: (n, float(points or 0)) for tid, n, points in db.session.execute(
            sa.select(RepairOrder.technician_id, sa.func.count(), sa.func.sum(RepairOrder.weight))
            .where(RepairOrder.is_open, RepairOrder.technician_id.in_(ids))
            .group_by(RepairOrder.technician_id))}
    return [{"id": t.id, "username": t.username, "name": t.full_name or t.username, "station": t.code,
             "on_duty": bool(t.on_duty), "lat": t.last_lat, "lon": t.last_lon, "last_at": t.last_at,
             "open_orders": load.get(t.id, (0, 0.0))[0], "open_points": round(load.get(t.id, (0, 0.0))[1], 1)}
            for t in techs]


_CANNOT_ASSIGN = {
    "waiting_customer": _l("Waiting for the customer (the clock is paused): an order cannot be reassigned once "
                           "its technician has been on site."),
    "waiting_parts": _l("Waiting for parts: an order cannot be reassigned once its technician has been on site."),
    "en_route": _l("The technician is on the way: an order cannot be reassigned once its technician has set off."),
    "on_site": _l("The technician is on site: an order cannot be reassigned once its technician has arrived."),
}


def why_not_assignable(order: RepairOrder, actor: User) -> str | None:
    """Why the actor cannot assign or reassign the order now, as a sentence for the popup; None when they can.

    The same rules `dispatch.orders.services.assign` enforces (who may manage the order, and the
    statuses an order can change hands in), asked here so the map can say why instead of hiding
    the buttons.
    """
    try:
        require_manager(order, actor)
    except Forbidden as err:
        recovered(err)  # a question, not a refusal of this request
        return str(_l("You may not reassign this order: only dispatchers and its station's supervisors may."))
    if order.status in ASSIGNABLE:
        return None
    if order.status in CLOSED_STATUSES:
        return str(_l("This order is %(status)s: there is nothing left to assign.",
                      status=order.status_label.lower()))
    return str(_CANNOT_ASSIGN.get(order.status) or _l("This order cannot be reassigned while it is %(status)s.",
                                                      status=order.status_label.lower()))


def candidates_for(order: RepairOrder, actor: User) -> list[dict[str, Any]]:
    """The best technicians for the order now (the orders' own ranking), its current one marked."""
    check_may_see(order, actor)
    if order.station_id is None:
        return []
    ranked = rank_technicians(order.station_id, order.category.skill, order.lat, order.lon)
    return [{**c.as_json(), "is_current": c.technician_id == order.technician_id} for c in ranked]
