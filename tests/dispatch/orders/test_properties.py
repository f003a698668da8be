"""Property tests: placement is exact (inside one area → it; else the geodesic nearest), and random
action sequences through the API never leave the life-cycle graph nor lose an event."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from geopy.distance import geodesic
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from shapely.geometry import Point, box

from core.geo import StationLocator, StationSite
from dispatch.orders.models import STATUSES
from dispatch.orders.services.orders import TECHNICIAN_ACTIONS, TRANSITIONS

# A 4 × 4 grid of square areas with gaps between them, and one extra area overlapping two others.
GRID = [StationSite(i * 4 + j + 1, f"G{i * 4 + j + 1:02d}", 22.5 + j * 0.015 + 0.003 + 0.0004 * i,
                    114.0 + i * 0.015 + 0.006 - 0.0003 * j,
                    box(114.0 + i * 0.015, 22.5 + j * 0.015, 114.0 + i * 0.015 + 0.01, 22.5 + j * 0.015 + 0.01))
        for i in range(4) for j in range(4)]
GRID.append(StationSite(17, "G17", 22.508, 114.012, box(114.008, 22.505, 114.02, 22.512)))
LOCATOR = StationLocator(GRID)


def _brute(sites, lat, lon):
    inside = [s for s in sites if s.coverage.intersects(Point(lon, lat))]
    pool = inside if inside else sites
    best = min(pool, key=lambda s: (geodesic((lat, lon), (s.lat, s.lon)).meters, s.code))
    return best, len(inside) == 1


@settings(max_examples=400, deadline=None)
@given(lat=st.floats(22.45, 22.62), lon=st.floats(113.95, 114.12))
def test_placement_matches_brute_force(lat, lon):
    placed = LOCATOR.place(lat, lon)
    best, inside_one = _brute(GRID, lat, lon)
    assert placed.code == best.code
    assert placed.inside == inside_one
    if not inside_one:
        assert placed.distance_m == pytest.approx(geodesic((lat, lon), (best.lat, best.lon)).meters, rel=1e-9)


@st.composite
def station_sets(draw):
    base_lat = draw(st.floats(-70, 70))
    base_lon = draw(st.floats(-170, 170))
    n = draw(st.integers(1, 25))
    sites = []
    for k in range(n):
        lat = base_lat + draw(st.floats(-3, 3))
        lon = base_lon + draw(st.floats(-3, 3))
        sites.append(StationSite(k + 1, f"R{k + 1:02d}", lat, lon, box(lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01)))
    q_lat = base_lat + draw(st.floats(-5, 5))
    q_lon = base_lon + draw(st.floats(-5, 5))
    return sites, q_lat, q_lon


@settings(max_examples=300, deadline=None)
@given(station_sets())
def test_nearest_is_the_geodesic_nearest_anywhere(case):
    sites, lat, lon = case
    placed = StationLocator(sites).place(lat, lon)
    best, inside_one = _brute(sites, lat, lon)
    assert placed.code == best.code and placed.inside == inside_one


def test_place_point_through_the_database(ctx, city):
    from dispatch.orders.services.assignment import place
    assert place(22.505, 114.015).code == "S02"
    assert place(22.505, 114.005).inside
    far = place(22.505, 113.9)
    assert far.code == "S01" and not far.inside


# --------------------------------------------------------------------------- stateful: the API never leaves the graph

def test_random_action_sequences_stay_on_the_graph(app, city, token_for, make_customer):
    client = app.test_client()
    users = {"disp": city.dispatcher, "t1": city.t1, "t2": city.t2, "t3": city.t3, "sup1": city.supervisor}
    headers = {name: token_for(user) for name, user in users.items()}
    ids = {name: user.id for name, user in users.items()}
    actions = list(TRANSITIONS)

    class OrderMachine(RuleBasedStateMachine):
        @initialize()
        def start(self):
            self.orders: dict[int, dict] = {}

        @rule(category=st.sampled_from(["DTV-MOSAIC", "BB-SLOW", "CATV-SNOW", "BB-FIBER-BREAK"]),
              east=st.booleans())
        def create(self, category, east):
            body = {"customer_id": city.customer.id, "category": category, "description": "random",
                    "lat": 22.505, "lon": 114.015 if east else 114.005}
            resp = client.post("/api/v1/orders", json=body, headers=headers["disp"])
            assert resp.status_code == 201, resp.get_json()
            order = resp.get_json()
            self.orders[order["id"]] = order

        @rule(data=st.data(), action=st.sampled_from(actions), who=st.sampled_from(sorted(users)))
        def act(self, data, action, who):
            if not self.orders:
                return
            order_id = data.draw(st.sampled_from(sorted(self.orders)))
            before = self.orders[order_id]
            payload = {"action": action, "note": f"{who} {action}"}
            if action == "resolve":
                payload["resolution_code"] = "fixed"
            resp = client.post(f"/api/v1/orders/{order_id}/transitions", json=payload, headers=headers[who])
            tech = before["technician"]["id"] if before["technician"] else None
            if who.startswith("t"):
                visible = tech == ids[who]  # others' orders do not exist for a technician
                allowed = visible and action in TECHNICIAN_ACTIONS
            elif who == "sup1":
                visible = allowed = before["station"] == "S01"  # nor other stations' for a station supervisor
            else:
                visible = allowed = True
            legal = before["status"] in TRANSITIONS[action][0]
            if action == "restore":  # only for orders of a mass-outage incident; these have none
                legal = legal and before.get("incident") is not None
            if not visible:
                assert resp.status_code == 404, (action, who, before["status"], resp.get_json())
            elif not allowed:
                assert resp.status_code == 403, (action, who, before["status"], resp.get_json())
            elif not legal:
                assert resp.status_code == 409, (action, who, before["status"], resp.get_json())
            else:
                assert resp.status_code == 200, (action, who, before["status"], resp.get_json())
            after = client.get(f"/api/v1/orders/{order_id}", headers=headers["disp"]).get_json()
            old_types = [e["id"] for e in before["events"]]
            new_types = [e["id"] for e in after["events"]]
            assert new_types[:len(old_types)] == old_types  # nothing lost or rewritten
            if resp.status_code != 200:
                assert after["version"] == before["version"] and new_types == old_types
            else:
                target = TRANSITIONS[action][1]
                if target:
                    assert after["status"] == target
                assert len(new_types) > len(old_types)
                last_move = [e for e in after["events"] if e["to_status"]][-1]
                assert last_move["to_status"] == after["status"]
            self.orders[order_id] = after

        @invariant()
        def statuses_are_known(self):
            for order in self.orders.values():
                assert order["status"] in STATUSES
                if order["status"] == "new":
                    assert order["technician"] is None
                elif order["status"] != "cancelled":
                    assert order["technician"] is not None

    OrderMachine.TestCase.settings = settings(max_examples=12, stateful_step_count=25, deadline=None,
                                              suppress_health_check=list(HealthCheck))
    run_state_machine_as_test(OrderMachine, settings=OrderMachine.TestCase.settings)


# --------------------------------------------------------------------------- concurrent reassignment

@pytest.mark.postgres_only
def test_concurrent_reassignment_has_one_winner(app, city):
    from core.auth import get_user
    from core.errors import Conflict
    from core.extensions import db
    from dispatch.orders import services
    from dispatch.orders.models import OrderEvent, RepairOrder

    with app.app_context():
        order = services.create_order({"customer_id": city.customer.id, "category": "DTV-MOSAIC",
                                       "description": "race"}, get_user(city.dispatcher.id))
        db.session.commit()
        order_id = order.id
    barrier = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def reassign(name: str, tech_id: int) -> None:
        with app.app_context():
            try:
                target = db.session.get(RepairOrder, order_id)
                disp = get_user(city.dispatcher.id)
                barrier.wait(timeout=10)
                services.assign(target, disp, technician_id=tech_id, reason=f"race {name}")
                db.session.commit()
                outcome[name] = "won"
            except Conflict:
                db.session.rollback()
                outcome[name] = "409"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=reassign, args=("a", city.t3.id)),
               threading.Thread(target=reassign, args=("b", city.off.id))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcome.values()) == ["409", "won"]
    winner = city.t3.id if outcome["a"] == "won" else city.off.id
    with app.app_context():
        order = db.session.get(RepairOrder, order_id)
        assert order.technician_id == winner
        reassigned = db.session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id == order_id,
                                                                    OrderEvent.type == "reassigned")).all()
        assert len(reassigned) == 1 and reassigned[0].data["technician"] in ("t3", "t4off")
