"""Which station and which technician: placement by coverage, scoring of technicians on duty."""
from __future__ import annotations

from dataclasses import dataclass, replace
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
NEIGHBOUR_STATIONS = 3  # when a station has nobody to send, the candidates of this many nearest stations


def score_terms(distance_km: float, open_points: float, urgent_orders: int) -> tuple[float, float, float]:
    """The score's three parts in km: distance, open work, urgent work. The score is their sum;
    the ranking and the order page's explanation both take them from here."""
    return distance_km, KM_PER_OPEN_POINT * open_points, KM_PER_URGENT_ORDER * urgent_orders


@dataclass(frozen=True)
class Candidate:
    technician_id: int
    username: str
    score: float
    distance_km: float
    open_orders: int
    open_points: float
    urgent_orders: int
    full_name: str = ""
    station: str = ""
    neighbour: bool = False  # of a nearby station, offered because the order's own has nobody

    def as_json(self) -> dict[str, Any]:
        return {"technician_id": self.technician_id, "username": self.username, "score": round(self.score, 2),
                "distance_km": round(self.distance_km, 2), "open_orders": self.open_orders,
                "open_points": round(self.open_points, 2), "urgent_orders": self.urgent_orders,
                "full_name": self.full_name, "station": self.station, "neighbour": self.neighbour}


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
        score = sum(score_terms(km, points, int(urgent)))
        out.append(Candidate(user.id, user.username, score, km, int(count), points, int(urgent),
                             user.full_name or "", station.code))
    out.sort(key=lambda c: (c.score, c.username))
    return out[:TOP_CANDIDATES]


def has_staff_on_shift(station_id: int) -> bool:
    """Is any enabled technician of the station on duty now (whatever their skills)?"""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(User).join(TechnicianDuty, TechnicianDuty.user_id == User.id)
        .where(User.role == "technician", User.station_id == station_id, User.is_enabled.is_(True),
               TechnicianDuty.on_duty.is_(True))) > 0


def staffed_station_ids() -> Any:
    """The stations with a technician on duty, as a subquery (the "no one on shift" queue)."""
    return (sa.select(User.station_id).join(TechnicianDuty, TechnicianDuty.user_id == User.id)
            .where(User.role == "technician", User.station_id.is_not(None), User.is_enabled.is_(True),
                   TechnicianDuty.on_duty.is_(True)))


def rank_neighbours(station_id: int, skill: str, lat: float | None, lon: float | None,
                    exclude: tuple[int, ...] = ()) -> list[Candidate]:
    """The best technicians of the NEIGHBOUR_STATIONS stations nearest the point (the order's
    own left out), scored as rank_technicians does: for a station with nobody to send."""
    station = db.session.get(stations.Station, station_id)
    if station is None:
        return []
    here = (lat, lon) if lat is not None and lon is not None else (station.lat, station.lon)
    others = sorted((s for s in stations.locator().sites if s.id != station_id),
                    key=lambda s: (haversine_m(here[0], here[1], s.lat, s.lon), s.code))[:NEIGHBOUR_STATIONS]
    out = [replace(c, neighbour=True) for s in others for c in rank_technicians(s.id, skill, lat, lon, exclude)]
    out.sort(key=lambda c: (c.score, c.username))
    return out[:TOP_CANDIDATES]


def score_rule() -> dict[str, float]:
    """The weights of the score, for saying how it is made."""
    return {"per_point": KM_PER_OPEN_POINT, "per_urgent": KM_PER_URGENT_ORDER, "urgent_hours": URGENT_HOURS}


def explain_candidates(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The stored candidates of an order, for people: full names (from the accounts, today), the
    score's parts from score_terms on the same stored numbers, the skill and whether they are
    on shift now. Candidates are ranked only among technicians with the skill who were on shift."""
    ids = [c.get("technician_id") for c in candidates if isinstance(c.get("technician_id"), int)]
    users = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids)))} if ids else {}
    duty = {d.user_id: d for d in db.session.scalars(sa.select(TechnicianDuty).where(
        TechnicianDuty.user_id.in_(ids)))} if ids else {}
    out = []
    for c in candidates:
        user = users.get(c.get("technician_id"))
        km, load_km, urgent_km = score_terms(float(c.get("distance_km") or 0), float(c.get("open_points") or 0),
                                             int(c.get("urgent_orders") or 0))
        out.append({
            "technician_id": c.get("technician_id"),
            "name": (user.full_name if user and user.full_name else None) or c.get("full_name") or c.get("username"),
            "station": c.get("station") or (user.station.code if user and user.station else ""),
            "neighbour": bool(c.get("neighbour")), "score": float(c.get("score") or 0),
            "distance_km": km, "open_orders": int(c.get("open_orders") or 0),
            "open_points": float(c.get("open_points") or 0), "load_km": load_km,
            "urgent_orders": int(c.get("urgent_orders") or 0), "urgent_km": urgent_km,
            "on_shift": bool(duty.get(c.get("technician_id")) and duty[c["technician_id"]].on_duty),
        })
    return out


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
