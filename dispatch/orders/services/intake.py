"""Intake guardrails: checks made before an order is taken (duplicates, outside the service area),
and the form's default category. They read only; create_order decides what refuses."""
from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import shapely
import sqlalchemy as sa
from shapely.geometry import Point
from shapely.ops import nearest_points

from core import stations
from core.access import in_scope
from core.auth import User
from core.db import now
from core.extensions import db
from core.geo import distance_m, haversine_m
from dispatch.orders.models import Category, RepairOrder

DUPLICATE_RADIUS_M = 200.0  # an open fault of the same category this close is probably the same fault
RECENT = timedelta(days=30)  # the default category is the most common fault among open and recent orders
MAX_DUPLICATES = 10
_NEAREST_AREAS = 5  # areas nearest in degrees, then measured geodesically


def possible_duplicates(actor: User | None, customer_id: int | None, category_id: int, kind: str,
                        point: tuple[float, float] | None) -> list[RepairOrder]:
    """Open orders that may be the one being taken: the customer's open orders, and open faults of
    the same category within DUPLICATE_RADIUS_M of the point. Only those the actor may see."""
    found: dict[int, RepairOrder] = {}
    if customer_id is not None:
        for order in db.session.scalars(sa.select(RepairOrder).where(
                RepairOrder.customer_id == customer_id, RepairOrder.is_open)
                .order_by(RepairOrder.reported_at.desc()).limit(MAX_DUPLICATES)):
            found[order.id] = order
    if point is not None and kind == "fault":
        lat, lon = point
        dlat = DUPLICATE_RADIUS_M / 110_540.0
        dlon = DUPLICATE_RADIUS_M / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
        for order in db.session.scalars(sa.select(RepairOrder).where(
                RepairOrder.category_id == category_id, RepairOrder.kind == "fault", RepairOrder.is_open,
                RepairOrder.lat.between(lat - dlat, lat + dlat), RepairOrder.lon.between(lon - dlon, lon + dlon))
                .order_by(RepairOrder.reported_at.desc()).limit(50)):
            if haversine_m(lat, lon, order.lat, order.lon) <= DUPLICATE_RADIUS_M:  # type: ignore[arg-type]
                found.setdefault(order.id, order)
    visible = [o for o in found.values() if actor is None or in_scope(actor, o.station_id)]
    return sorted(visible, key=lambda o: o.reported_at, reverse=True)[:MAX_DUPLICATES]


def km_outside_service_area(lat: float, lon: float) -> tuple[float, str] | None:
    """How far (km) the point lies from the nearest station's area, and that station's code:
    (0, code) inside an area; None when no station is set up."""
    locator = stations.locator()
    if not locator.sites:
        return None
    inside = locator.containing(lat, lon)
    if inside:
        return 0.0, inside[0].code
    here = Point(lon, lat)
    by_degrees = shapely.distance([s.coverage for s in locator.sites], here)
    nearest = sorted(range(len(locator.sites)), key=lambda i: by_degrees[i])[:_NEAREST_AREAS]
    best: tuple[float, str] | None = None
    for i in nearest:
        site = locator.sites[i]
        edge = nearest_points(site.coverage, here)[0]
        km = distance_m((lat, lon), (edge.y, edge.x)) / 1000
        if best is None or km < best[0]:
            best = (km, site.code)
    return best


def default_category_code() -> str | None:
    """The form's preselected category: the fault category most common among open orders and those
    reported in the last 30 days; else the first active fault category. Never a complaint visit."""
    count = sa.func.count(RepairOrder.id)
    code = db.session.scalar(
        sa.select(Category.code).join(RepairOrder, RepairOrder.category_id == Category.id)
        .where(Category.kind == "fault", Category.is_active.is_(True),
               sa.or_(RepairOrder.is_open, RepairOrder.reported_at >= now() - RECENT))
        .group_by(Category.code).order_by(count.desc(), Category.code).limit(1))
    return code or db.session.scalar(sa.select(Category.code).where(
        Category.kind == "fault", Category.is_active.is_(True)).order_by(Category.code).limit(1))


def flag(value: Any) -> bool | None:
    """A confirmation flag from JSON (true/false) or a form ("1", "on", "true"); None if neither."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("", "0", "false", "off", "1", "true", "on", "yes"):
        return value.strip().lower() in ("1", "true", "on", "yes")
    return None
