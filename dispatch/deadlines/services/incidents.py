"""Mass outages: clusters of fault orders in space and time become one Incident, restored together.

A cluster is at least K open, unlinked fault orders of one service line, all within R metres
of each other (every pair) and reported within T minutes of each other (latest − earliest
≤ T). Detection looks at faults reported in the last LOOKBACK (so clusters that formed while
no scheduler ran are still found). A fault of the same service line reported within R of an
open incident's centre, no earlier than T before its first fault, is linked to it — at
intake (`link_to_open_incident`) and, for orders that missed that, by the detection job.
"""
from __future__ import annotations

import bisect
import logging
import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.exc import StaleDataError

from core import audit, outbox
from core.auth import User
from core.access import in_scope
from core.db import now
from core.errors import Conflict, Forbidden, Invalid, NotFound, recovered
from core.extensions import db
from core.geo import EARTH_RADIUS_M, haversine_m
from core.parse import is_id, parse_int
from dispatch.orders.models import OPEN_PREDICATE, Category, RepairOrder
from dispatch.orders.services import orders as order_services
from dispatch.deadlines.messages import stored
from dispatch.deadlines.models import Incident, IncidentSettings

log = logging.getLogger(__name__)

LOOKBACK = timedelta(hours=24)
DEFAULTS = {"min_orders": 5, "radius_m": 500, "window_minutes": 60}
LIMITS = {"min_orders": (2, 1000), "radius_m": (10, 50000), "window_minutes": (1, 1440)}
UNLINKED_FAULTS = sa.text(f"repair_orders.{OPEN_PREDICATE} AND "
                          "repair_orders.kind = 'fault' AND repair_orders.incident_id IS NULL AND "
                          "repair_orders.lat IS NOT NULL")
RESTORED_CODE = "incident_restored"


@dataclass(frozen=True)
class Fault:
    id: int
    lat: float
    lon: float
    reported_at: datetime
    service_line: str
    station_id: int | None


# --------------------------------------------------------------------------- thresholds

def settings() -> IncidentSettings:
    """The thresholds in force (the defaults until an admin saves some)."""
    row = db.session.get(IncidentSettings, 1)
    return row or IncidentSettings(id=1, **DEFAULTS)


def update_settings(data: dict[str, Any], actor: User) -> IncidentSettings:
    """Save new thresholds (admins); every field is a whole number within its limits."""
    if actor.role != "admin":
        raise Forbidden(str(_l("Only admins may change the incident thresholds.")))
    clean: dict[str, int] = {}
    errors: dict[str, str] = {}
    for name, (low, high) in LIMITS.items():
        try:
            value = parse_int(data.get(name), name, lo=low, hi=high)
        except Invalid as err:
            recovered(err)  # folded into the one refusal below
            errors[name] = str(_l("between %(low)d and %(high)d", low=low, high=high)) \
                if err.fields.get(name) == "out_of_range" else str(_l("a whole number"))
            continue
        if value is None:
            errors[name] = str(_l("a whole number"))
            continue
        clean[name] = value
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    row = db.session.get(IncidentSettings, 1)
    if row is None:
        row = IncidentSettings(id=1)
        db.session.add(row)
    for name, value in clean.items():
        setattr(row, name, value)
    row.updated_at, row.updated_by_id = now(), actor.id
    audit.record("incident.settings", "incident_settings", 1, actor=actor, **clean)
    db.session.flush()
    return row


# --------------------------------------------------------------------------- clustering (pure)

def find_clusters(faults: list[Fault], min_orders: int, radius_m: float, window: timedelta) -> list[list[Fault]]:
    """Disjoint clusters of ≥ min_orders faults of one service line, every pair within radius_m and
    all reported within `window`. Seeds are taken oldest first; a seed's cluster is built greedily
    from its nearest neighbours in its time window, keeping only points close to every kept one.
    Neighbours come from a grid of radius-sized cells (the seed's cell and the 8 around it)."""
    clusters: list[list[Fault]] = []
    by_line: dict[str, list[Fault]] = {}
    for f in faults:
        by_line.setdefault(f.service_line, []).append(f)
    for line in sorted(by_line):
        points = sorted(by_line[line], key=lambda f: (f.reported_at, f.id))
        cell_lat = math.degrees(radius_m / EARTH_RADIUS_M)
        cell_lon = cell_lat / max(math.cos(math.radians(max(abs(p.lat) for p in points))), 1e-6)
        grid: dict[tuple[int, int], list[Fault]] = {}
        for p in points:  # each cell's list stays in time order
            grid.setdefault((int(p.lat // cell_lat), int(p.lon // cell_lon)), []).append(p)
        used: set[int] = set()
        for seed in points:
            if seed.id in used:
                continue
            row, col = int(seed.lat // cell_lat), int(seed.lon // cell_lon)
            near: list[tuple[float, Fault]] = []
            for cell in ((row + dr, col + dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)):
                members = grid.get(cell, [])
                start = bisect.bisect_left(members, (seed.reported_at, seed.id), key=lambda f: (f.reported_at, f.id))
                for p in members[start:]:
                    if p.reported_at - seed.reported_at > window:
                        break
                    if p.id not in used:
                        dist = haversine_m(seed.lat, seed.lon, p.lat, p.lon)
                        if dist <= radius_m:
                            near.append((dist, p))
            if len(near) < min_orders:
                continue
            kept: list[Fault] = []
            for _dist, p in sorted(near, key=lambda dp: (dp[0], dp[1].reported_at, dp[1].id)):
                if all(haversine_m(p.lat, p.lon, q.lat, q.lon) <= radius_m for q in kept):
                    kept.append(p)
            if len(kept) >= min_orders:
                clusters.append(kept)
                used.update(p.id for p in kept)
    return clusters


# --------------------------------------------------------------------------- linking

def _open_incidents() -> list[Incident]:
    return list(db.session.scalars(sa.select(Incident).where(Incident.status == "open").order_by(Incident.id)))


def _matching_incident(incidents: list[Incident], line: str, lat: float, lon: float, reported_at: datetime,
                       window: timedelta) -> Incident | None:
    best: tuple[float, Incident] | None = None
    for inc in incidents:
        if inc.service_line != line or reported_at < inc.first_reported_at - window:
            continue
        dist = haversine_m(inc.lat, inc.lon, lat, lon)
        if dist <= inc.radius_m and (best is None or dist < best[0]):
            best = (dist, inc)
    return best[1] if best else None


def _link(order: RepairOrder, incident: Incident) -> None:
    order.incident_id = incident.id
    order.updated_at = now()
    order_services.add_event(order, "incident_linked", None, stored("incident.linked", id=incident.id),
                             incident=incident.id)


def link_to_open_incident(order: RepairOrder) -> Incident | None:
    """At intake: link a new located fault to the open incident around it, if any (no commit)."""
    if order.kind != "fault" or order.lat is None or order.incident_id is not None \
            or not order.is_open:
        return None
    incident = _matching_incident(_open_incidents(), order.category.service_line, order.lat, order.lon,
                                  order.reported_at, timedelta(minutes=settings().window_minutes))
    if incident is not None:
        _link(order, incident)
        db.session.flush()
    return incident


def _recent_faults(since: datetime) -> list[Fault]:
    rows = db.session.execute(
        sa.select(RepairOrder.id, RepairOrder.lat, RepairOrder.lon, RepairOrder.reported_at,
                  Category.service_line, RepairOrder.station_id)
        .join(Category, Category.id == RepairOrder.category_id)
        .where(UNLINKED_FAULTS, RepairOrder.reported_at >= since)
        .order_by(RepairOrder.reported_at, RepairOrder.id))
    return [Fault(*row) for row in rows]


def _alert_opened(incident: Incident, count: int) -> int:
    supervisors = list(db.session.scalars(sa.select(User).where(
        User.is_enabled.is_(True), User.role == "supervisor", User.station_id == incident.station_id)))
    if not supervisors:
        supervisors = list(db.session.scalars(sa.select(User).where(
            User.is_enabled.is_(True), sa.or_(User.role == "admin", sa.and_(User.role == "supervisor",
                                                                           User.station_id.is_(None))))))
    dispatchers = list(db.session.scalars(sa.select(User).where(User.is_enabled.is_(True),
                                                                User.role == "dispatcher")))
    sent = 0
    for user in {u.id: u for u in supervisors + dispatchers}.values():
        if outbox.enqueue("incident", user, cause=f"incident:{incident.id}:opened",
                          message=stored("alert.incident", id=incident.id, count=count),
                          url=f"/dispatch/incidents/{incident.id}", urgency="high",
                          topic=f"incident-{incident.id}") is not None:
            sent += 1
    return sent


def detect_incidents(at: datetime | None = None) -> dict[str, int]:
    """Link unlinked faults near open incidents, then open incidents for new clusters (no commit)."""
    at = at or now()
    conf = settings()
    window = timedelta(minutes=conf.window_minutes)
    faults = _recent_faults(at - LOOKBACK)
    open_incidents = _open_incidents()
    linked = opened = notified = 0
    rest: list[Fault] = []
    for f in faults:
        incident = _matching_incident(open_incidents, f.service_line, f.lat, f.lon, f.reported_at, window)
        if incident is None:
            rest.append(f)
            continue
        try:
            with db.session.begin_nested():
                _link(db.session.get(RepairOrder, f.id), incident)
                db.session.flush()
            linked += 1
        except StaleDataError:
            log.info("order %s changed while linking; the next tick retries", f.id)
    for cluster in find_clusters(rest, conf.min_orders, conf.radius_m, window):
        station_id = Counter(f.station_id for f in cluster).most_common(1)[0][0]
        incident = Incident(service_line=cluster[0].service_line, station_id=station_id,
                            lat=sum(f.lat for f in cluster) / len(cluster),
                            lon=sum(f.lon for f in cluster) / len(cluster), radius_m=float(conf.radius_m),
                            status="open", opened_at=at, first_reported_at=min(f.reported_at for f in cluster))
        try:
            with db.session.begin_nested():
                db.session.add(incident)
                db.session.flush()
                for f in cluster:
                    _link(db.session.get(RepairOrder, f.id), incident)
                db.session.flush()
        except StaleDataError:
            log.info("an order of a cluster changed while linking; the next tick retries")
            continue
        audit.record("incident.open", "incident", incident.id, orders=len(cluster))
        opened += 1
        linked += len(cluster)
        notified += _alert_opened(incident, len(cluster))
        open_incidents.append(incident)
    db.session.flush()
    return {"incidents opened": opened, "orders linked": linked, "notifications": notified}


# --------------------------------------------------------------------------- reading & resolving

def get_incident(incident_id: Any) -> Incident:
    incident = db.session.get(Incident, incident_id) if is_id(incident_id) else None
    if incident is None:
        raise NotFound(str(_l("No such incident.")))
    return incident


def incident_for(incident_id: Any, actor: User) -> Incident:
    """An incident the actor may see — one of their station scope — or NotFound, as for a wrong id."""
    incident = get_incident(incident_id)
    if not may_manage(incident, actor):
        raise NotFound(str(_l("No such incident.")))
    return incident


def linked_orders(incident: Incident, actor: User | None = None) -> list[RepairOrder]:
    """The incident's orders; with an actor, only those the actor may see (a cluster may cross a border)."""
    orders = db.session.scalars(sa.select(RepairOrder).where(RepairOrder.incident_id == incident.id)
                                .order_by(RepairOrder.reported_at, RepairOrder.id)).unique()
    return [o for o in orders if actor is None or order_services.may_see(o, actor)]


def incidents_list(station_id: int | None = None, open_only: bool = True, limit: int = 100) -> list[Incident]:
    stmt = sa.select(Incident).order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(limit)
    if open_only:
        stmt = stmt.where(Incident.status == "open")
    if station_id is not None:
        stmt = stmt.where(Incident.station_id == station_id)
    return list(db.session.scalars(stmt).unique())


def order_counts(incident_ids: list[int]) -> dict[int, int]:
    if not incident_ids:
        return {}
    rows = db.session.execute(sa.select(RepairOrder.incident_id, sa.func.count()).where(
        RepairOrder.incident_id.in_(incident_ids)).group_by(RepairOrder.incident_id))
    return {iid: n for iid, n in rows}


def may_manage(incident: Incident, actor: User) -> bool:
    return actor.role in ("admin", "dispatcher", "supervisor") and in_scope(actor, incident.station_id)


def resolve_incident(incident_id: Any, actor: User, note: Any = "") -> dict[str, int]:
    """Close the incident and resolve every linked open order with a "restored" note,
    wherever each stands in its life cycle (the `restore` transition)."""
    incident = incident_for(incident_id, actor)
    if not incident.is_open:
        raise Conflict(str(_l("This incident is resolved already.")))
    if not isinstance(note, str) or len(note) > 500:
        raise Invalid(str(_l("Please correct the marked fields.")), {"note": str(_l("text, at most 500 characters"))})
    text = note.strip() or stored("incident.restored")
    resolved = 0
    for order in linked_orders(incident):
        if order.is_open:
            order_services.transition(order, "restore", actor, note=text, resolution_code=RESTORED_CODE)
            resolved += 1
    incident.status, incident.resolved_at, incident.resolved_by_id = "resolved", now(), actor.id
    incident.resolution_note = text[:500]
    audit.record("incident.resolve", "incident", incident.id, actor=actor, resolved=resolved)
    db.session.flush()
    return {"resolved": resolved}
