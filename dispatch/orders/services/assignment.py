"""Which station and which technician: placement by coverage, scoring of technicians on duty."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core import stations
from core.auth import User
from core.db import now
from core.errors import Invalid, NotFound
from core.extensions import db
from core.geo import check_point, haversine_m
from dispatch.orders.models import RepairOrder, TechnicianDuty

TOP_CANDIDATES = 5
# Score = km from the last known position + KM_PER_OPEN_POINT per open work point
#         + KM_PER_URGENT_ORDER per open order due within URGENT_HOURS. Lower is better.
KM_PER_OPEN_POINT = 3.0
KM_PER_URGENT_ORDER = 5.0
URGENT_HOURS = 6.0


@dataclass(frozen=True)
class Candidate:
    technician_id: int
    username: str
    score: float
    distance_km: float
    open_orders: int
    open_points: float
    urgent_orders: int

    def as_json(self) -> dict[str, Any]:
        return {"technician_id": self.technician_id, "username": self.username, "score": round(self.score, 2),
                "distance_km": round(self.distance_km, 2), "open_orders": self.open_orders,
                "open_points": round(self.open_points, 2), "urgent_orders": self.urgent_orders}


def place(lat: float, lon: float) -> stations.Placement | None:
    return stations.place_point(lat, lon)


def duty_of(user_id: int) -> TechnicianDuty | None:
    return db.session.get(TechnicianDuty, user_id)


def set_duty(user: User, *, on_duty: bool | None = None, shift: str | None = None) -> TechnicianDuty:
    """Put a technician on or off duty (and set their shift)."""
    if user.role != "technician":
        raise Invalid("Only technicians go on duty.", {"user": "not_technician"})
    if shift is not None and shift not in ("day", "evening", "night"):
        raise Invalid("Unknown shift.", {"shift": "unknown"})
    duty = duty_of(user.id) or TechnicianDuty(user_id=user.id, on_duty=False)
    db.session.add(duty)
    if on_duty is not None:
        duty.on_duty = on_duty
    if shift is not None:
        duty.shift = shift
    duty.updated_at = now()
    db.session.flush()
    return duty


def record_position(user_id: int, lat: Any, lon: Any, at: datetime | None = None) -> TechnicianDuty:
    """The technician's last known position (from the field app, or an order event)."""
    lat, lon = check_point(lat, lon)
    duty = duty_of(user_id)
    if duty is None:
        if db.session.get(User, user_id) is None:
            raise NotFound("No such technician.")
        duty = TechnicianDuty(user_id=user_id, on_duty=False)
        db.session.add(duty)
    duty.last_lat, duty.last_lon, duty.last_at = lat, lon, at or now()
    db.session.flush()
    return duty


def rank_technicians(station_id: int, skill: str, lat: float | None, lon: float | None,
                     exclude: tuple[int, ...] = ()) -> list[Candidate]:
    """Technicians on duty at the station with the skill, best first."""
    station = db.session.get(stations.Station, station_id)
    if station is None:
        return []
    rows = db.session.execute(
        sa.select(User, TechnicianDuty).join(TechnicianDuty, TechnicianDuty.user_id == User.id)
        .where(User.role == "technician", User.station_id == station_id, User.is_enabled.is_(True),
               TechnicianDuty.on_duty.is_(True))).all()
    techs = [(u, d) for u, d in rows if skill in (u.skills or []) and u.id not in exclude]
    if not techs:
        return []
    ids = [u.id for u, _d in techs]
    load: dict[int, list[float]] = {i: [0, 0.0, 0] for i in ids}
    for tech_id, weight, seconds_left in db.session.execute(
            sa.select(RepairOrder.technician_id, RepairOrder.weight, RepairOrder.seconds_left())
            .where(RepairOrder.technician_id.in_(ids), RepairOrder.is_open)):
        entry = load[tech_id]
        entry[0] += 1
        entry[1] += weight
        entry[2] += 1 if seconds_left <= URGENT_HOURS * 3600 else 0  # the time left on its clock
    target = (lat, lon) if lat is not None and lon is not None else (station.lat, station.lon)
    out = []
    for user, duty in techs:
        here = (duty.last_lat, duty.last_lon) if duty.last_lat is not None else (station.lat, station.lon)
        km = haversine_m(here[0], here[1], target[0], target[1]) / 1000
        count, points, urgent = load[user.id]
        score = km + KM_PER_OPEN_POINT * points + KM_PER_URGENT_ORDER * urgent
        out.append(Candidate(user.id, user.username, score, km, int(count), points, int(urgent)))
    out.sort(key=lambda c: (c.score, c.username))
    return out[:TOP_CANDIDATES]


def forget_positions(before: datetime) -> dict[str, int]:
    """Delete technicians' positions older than `before`: where a person was is personal data,
    kept only as long as dispatch needs it. Clears last known positions and the positions
    recorded with timeline events (the events themselves stay)."""
    from dispatch.orders.models import OrderEvent

    duties = db.session.execute(sa.update(TechnicianDuty).where(TechnicianDuty.last_at < before)
                                .values(last_lat=None, last_lon=None, last_at=None)).rowcount
    events = db.session.execute(sa.update(OrderEvent).where(OrderEvent.at < before, OrderEvent.lat.is_not(None))
                                .values(lat=None, lon=None)).rowcount
    return {"last_positions": duties, "event_positions": events}
