"""Mass-outage incidents: crafted clusters, near-misses, two clusters side by side, linking, resolving."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.auth import get_user
from core.errors import Forbidden, Invalid, NotFound
from core.extensions import db
from core.geo import EARTH_RADIUS_M
from core.outbox import Notification
from dispatch.orders import services
from dispatch.orders.models import RepairOrder
from dispatch.deadlines.services import incidents
from dispatch.deadlines.models import Incident

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
BASE = (22.503, 114.004)


def north(metres: float, lat: float = BASE[0]) -> float:
    """The latitude `metres` north of `lat` (exact for the haversine distance along a meridian)."""
    return lat + math.degrees(metres / EARTH_RADIUS_M)


@pytest.fixture
def fault(app, clock, make_order):
    """Report a digital-TV fault at (lat, lon), `minutes` after T0."""
    def make(lat: float = BASE[0], lon: float = BASE[1], minutes: float = 0, category: str = "DTV-MOSAIC") -> int:
        clock.set(T0 + timedelta(minutes=minutes))
        return make_order(category=category, lat=lat, lon=lon)
    return make


def detect(app, at: datetime | None = None) -> dict:
    with app.app_context():
        result = incidents.detect_incidents(at)
        db.session.commit()
        return result


def linked(app) -> dict[int, list[int]]:
    with app.app_context():
        rows = db.session.execute(sa.select(RepairOrder.incident_id, RepairOrder.id)
                                  .where(RepairOrder.incident_id.is_not(None)).order_by(RepairOrder.id)).all()
        out: dict[int, list[int]] = {}
        for iid, oid in rows:
            out.setdefault(iid, []).append(oid)
        return out


def test_five_faults_close_together_open_one_incident(app, clock, city, fault):
    ids = [fault(lat=north(40 * i), minutes=5 * i) for i in range(5)]
    result = detect(app)
    assert result["incidents opened"] == 1 and result["orders linked"] == 5
    groups = linked(app)
    assert list(groups.values()) == [ids]
    with app.app_context():
        inc = db.session.scalar(sa.select(Incident))
        assert inc.service_line == "digital_tv" and inc.station_id == city.s1.id and inc.is_open
        assert inc.first_reported_at == T0
        events = [e for e in services.timeline(services.get_order(ids[0])) if e.type == "incident_linked"]
        assert len(events) == 1 and events[0].data["incident"] == inc.id
        who = sorted(get_user(uid).username for uid in db.session.scalars(
            sa.select(Notification.recipient_id).where(Notification.kind == "incident")))
        assert who == ["disp", "sup1"]
    assert detect(app)["incidents opened"] == 0  # once


def test_four_faults_are_not_an_incident(app, clock, city, fault):
    for i in range(4):
        fault(lat=north(10 * i), minutes=i)
    assert detect(app)["incidents opened"] == 0


@pytest.mark.parametrize("metres, opened", [(499, 1), (501, 0)])
def test_one_fault_just_inside_or_outside_the_radius(app, clock, city, fault, metres, opened):
    for i in range(4):
        fault(minutes=i)
    fault(lat=north(metres), minutes=4)
    assert detect(app)["incidents opened"] == opened


@pytest.mark.parametrize("minutes, opened", [(60, 1), (61, 0)])
def test_one_fault_just_inside_or_outside_the_time_window(app, clock, city, fault, minutes, opened):
    for _ in range(4):
        fault(minutes=0)
    fault(minutes=minutes)
    assert detect(app, T0 + timedelta(minutes=61))["incidents opened"] == opened


def test_every_pair_must_be_within_the_radius(app, clock, city, fault):
    # a line of faults 300 m apart: each is within 500 m of its neighbours but not of every other
    for i in range(5):
        fault(lat=north(300 * i), minutes=i)
    assert detect(app)["incidents opened"] == 0


def test_two_clusters_side_by_side(app, clock, city, fault):
    left = [fault(lat=north(20 * i), minutes=i) for i in range(5)]
    right = [fault(lat=north(1200 + 20 * i), minutes=i) for i in range(5)]
    other_line = [fault(lat=north(20 * i), minutes=i, category="BB-SLOW") for i in range(5)]
    assert detect(app)["incidents opened"] == 3
    assert sorted(linked(app).values()) == sorted([left, right, other_line])


def test_faults_of_different_service_lines_do_not_cluster(app, clock, city, fault):
    for i, cat in enumerate(("DTV-MOSAIC", "DTV-MOSAIC", "DTV-MOSAIC", "BB-SLOW", "CATV-SNOW")):
        fault(lat=north(10 * i), minutes=i, category=cat)
    assert detect(app)["incidents opened"] == 0


def test_thresholds_are_editable_and_used(app, clock, city, fault):
    with app.app_context():
        admin = get_user(city.admin.id)
        with pytest.raises(Forbidden):
            incidents.update_settings({"min_orders": 3, "radius_m": 500, "window_minutes": 60},
                                      get_user(city.sup1.id))
        with pytest.raises(Invalid) as err:
            incidents.update_settings({"min_orders": 1, "radius_m": "x", "window_minutes": 60}, admin)
        assert set(err.value.fields) == {"min_orders", "radius_m"}
        incidents.update_settings({"min_orders": "3", "radius_m": 500, "window_minutes": 60}, admin)
        db.session.commit()
    for i in range(3):
        fault(lat=north(10 * i), minutes=i)
    assert detect(app)["incidents opened"] == 1


def test_a_new_fault_near_an_open_incident_is_linked(app, clock, city, fault):
    for i in range(5):
        fault(minutes=i)
    detect(app)
    [inc_id] = linked(app)
    near = fault(lat=north(300), minutes=90)  # later than T, but the incident is open: linked at intake
    far = fault(lat=north(900), minutes=91)
    with app.app_context():
        assert db.session.get(RepairOrder, near).incident_id == inc_id
        assert db.session.get(RepairOrder, far).incident_id is None
        assert incidents.link_to_open_incident(db.session.get(RepairOrder, far)) is None
    assert len(linked(app)[inc_id]) == 6
    real_link = incidents.link_to_open_incident
    incidents.link_to_open_incident = lambda order: None
    try:
        missed = fault(lat=north(100), minutes=95)  # not linked at intake: the job sweeps it
    finally:
        incidents.link_to_open_incident = real_link
    with app.app_context():
        assert db.session.get(RepairOrder, missed).incident_id is None
    assert detect(app)["orders linked"] == 1
    assert missed in linked(app)[inc_id]


def test_resolving_the_incident_restores_its_orders(app, clock, city, fault, act):
    ids = [fault(minutes=i) for i in range(5)]
    detect(app)
    for oid in ids[:3]:
        for action in ("accept", "depart", "arrive"):
            act(oid, action, city.t1)
    act(ids[1], "wait_customer", city.t1)
    with app.app_context():
        inc = db.session.scalar(sa.select(Incident))
        with pytest.raises(NotFound):  # another station's incident does not exist for its supervisor
            incidents.resolve_incident(inc.id, get_user(city.sup2.id))
        result = incidents.resolve_incident(inc.id, get_user(city.sup1.id), "Fibre node repaired")
        db.session.commit()
        statuses = [db.session.get(RepairOrder, oid).status for oid in ids]
        assert result == {"resolved": 5}  # wherever each order stood
        assert statuses == ["resolved"] * 5
        paused = db.session.get(RepairOrder, ids[1])
        assert paused.paused_at is None  # the clock stops being paused when it is restored
        resolved = [e for e in services.timeline(services.get_order(ids[0])) if e.type == "resolved"]
        assert resolved[0].note == "Fibre node repaired"
        assert db.session.get(RepairOrder, ids[0]).resolution_code == incidents.RESTORED_CODE
        assert db.session.get(Incident, inc.id).status == "resolved"
        with pytest.raises(Exception) as again:
            incidents.resolve_incident(inc.id, get_user(city.sup1.id))
        assert getattr(again.value, "status", None) == 409


def test_find_clusters_is_deterministic_and_disjoint():
    at = T0
    faults = [incidents.Fault(i, north(5 * i), BASE[1], at + timedelta(minutes=i), "broadband", 1)
              for i in range(12)]
    clusters = incidents.find_clusters(faults, 5, 500, timedelta(minutes=60))
    assert [[f.id for f in c] for c in clusters] == [list(range(12))]
    clusters = incidents.find_clusters(faults, 5, 500, timedelta(minutes=5))
    assert [[f.id for f in c] for c in clusters] == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]


def _brute_force(faults, min_orders, radius_m, window):
    """The same greedy rule without the grid: every later fault of the line is a candidate."""
    from core.geo import haversine_m
    out = []
    for line in sorted({f.service_line for f in faults}):
        points = sorted((f for f in faults if f.service_line == line), key=lambda f: (f.reported_at, f.id))
        used: set[int] = set()
        for i, seed in enumerate(points):
            if seed.id in used:
                continue
            near = [(haversine_m(seed.lat, seed.lon, p.lat, p.lon), p) for p in points[i:]
                    if p.id not in used and p.reported_at - seed.reported_at <= window]
            kept = []
            for dist, p in sorted(near, key=lambda dp: (dp[0], dp[1].reported_at, dp[1].id)):
                if dist <= radius_m and all(haversine_m(p.lat, p.lon, q.lat, q.lon) <= radius_m for q in kept):
                    kept.append(p)
            if len(kept) >= min_orders:
                out.append(kept)
                used.update(p.id for p in kept)
    return out


@pytest.mark.parametrize("seed", range(5))
def test_grid_clustering_matches_the_brute_force_rule(seed):
    import random
    rnd = random.Random(seed)
    faults = [incidents.Fault(i, 22.5 + rnd.uniform(0, 0.03), 114.0 + rnd.uniform(0, 0.03),
                              T0 + timedelta(minutes=rnd.uniform(0, 240)), rnd.choice(("broadband", "digital_tv")), 1)
              for i in range(400)]
    got = incidents.find_clusters(faults, 4, 400, timedelta(minutes=60))
    assert got, "the random city should hold some clusters"
    assert [[f.id for f in c] for c in got] == [[f.id for f in c] for c in _brute_force(faults, 4, 400,
                                                                                         timedelta(minutes=60))]
