"""GET /api/v1/orders.geojson: shape, bbox (edges included), deadline states at their exact edges,
filters, bad input, scoping, and a constant number of queries."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.extensions import db
from dispatch.orders.models import RepairOrder

FEED = "/api/v1/orders.geojson"


def _feed(client, headers, **params):
    resp = client.get(FEED, query_string=params, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/geo+json"
    return resp.get_json()


def _ids(fc) -> list[int]:
    return [f["id"] for f in fc["features"]]


def _times(app, order_id):
    with app.app_context():
        o = db.session.get(RepairOrder, order_id)
        return o.warn_at, o.deadline_at


@pytest.fixture
def disp(city, token_for):
    return token_for(city.dispatcher)


def test_feature_shape(client, city, disp, make_order, clock):
    oid = make_order(22.505, 114.005)
    fc = _feed(client, disp)
    assert fc["type"] == "FeatureCollection" and fc["count"] == 1
    (f,) = fc["features"]
    assert f["type"] == "Feature" and f["id"] == oid
    assert f["geometry"] == {"type": "Point", "coordinates": [114.005, 22.505]}
    p = f["properties"]
    assert set(p) == {"id", "number", "status", "kind", "station", "deadline_at", "sla_state", "category",
                      "technician", "technician_name"}
    with client.application.app_context():
        assert p["number"] == db.session.get(RepairOrder, oid).number
    assert (p["status"], p["kind"], p["station"], p["category"]) == ("assigned", "fault", "S01", "DTV-MOSAIC")
    assert p["technician"] in ("t1", "t2")
    # clock 2026-03-02 01:00 UTC + 24 h, shown in Asia/Shanghai with its offset
    assert p["deadline_at"] == "2026-03-03T09:00:00+08:00"
    assert p["sla_state"] == "ok"
    assert fc["generated_at"] == "2026-03-02T09:00:00+08:00"


def test_unassigned_order_has_no_technician(client, city, disp, make_order, clock):
    oid = make_order(22.505, 114.005, category="BB-FIBER-BREAK")  # skill "fiber": nobody has it
    (f,) = _feed(client, disp)["features"]
    assert f["id"] == oid and f["properties"]["technician"] is None and f["properties"]["status"] == "new"
    assert f["properties"]["technician_name"] is None


def test_the_technician_is_named_by_full_name_else_username(client, city, disp, make_order, clock):
    from core.auth import User

    make_order(22.505, 114.005)
    (f,) = _feed(client, disp)["features"]
    username = f["properties"]["technician"]
    assert f["properties"]["technician_name"] == username  # no full name given
    with client.application.app_context():
        db.session.scalar(sa.select(User).where(User.username == username)).full_name = "李 <b>明</b>"
        db.session.commit()
    (f,) = _feed(client, disp)["features"]
    assert (f["properties"]["technician"], f["properties"]["technician_name"]) == (username, "李 <b>明</b>")


def test_only_open_orders(client, city, disp, make_order, order_action, clock):
    keep = make_order(22.505, 114.005)
    gone = make_order(22.506, 114.006)
    order_action(gone, "cancel", "disp", note="duplicate")
    assert _ids(_feed(client, disp)) == [keep]


def test_sorted_by_deadline(client, city, disp, make_order, clock):
    first = make_order(22.505, 114.005)  # fault: 24 h
    install = make_order(22.505, 114.006, category="INST-DTV")  # installation: 72 h
    clock.advance(hours=1)
    second = make_order(22.505, 114.007)
    assert _ids(_feed(client, disp)) == [first, second, install]


# ---------------------------------------------------------------- bbox

BOX = "114.004,22.504,114.006,22.506"


@pytest.mark.parametrize("lat, lon, inside", [
    (22.505, 114.005, True),     # centre
    (22.504, 114.004, True),     # south-west corner exactly
    (22.506, 114.006, True),     # north-east corner exactly
    (22.504, 114.006, True),     # south-east corner exactly
    (22.505, 114.004, True),     # on the west edge
    (22.5039999, 114.005, False),  # just south
    (22.505, 114.0060001, False),  # just east
    (22.5061, 114.005, False),
    (22.505, 114.0039, False),
])
def test_bbox_edges_are_inclusive(client, city, disp, make_order, lat, lon, inside):
    oid = make_order(lat, lon)
    assert (_ids(_feed(client, disp, bbox=BOX)) == [oid]) is inside


def test_bbox_picks_the_orders_in_view(client, city, disp, make_order):
    west = make_order(22.505, 114.002)
    east = make_order(22.505, 114.015)
    assert _ids(_feed(client, disp, bbox="114.0,22.5,114.01,22.51")) == [west]
    assert _ids(_feed(client, disp, bbox="114.01,22.5,114.02,22.51")) == [east]
    assert sorted(_ids(_feed(client, disp, bbox="-180,-90,180,90"))) == sorted([west, east])
    assert _ids(_feed(client, disp, bbox="113,22,113.5,22.4")) == []


@pytest.mark.parametrize("bbox, code", [
    ("1,2,3", "malformed"), ("1,2,3,4,5", "malformed"), ("a,b,c,d", "malformed"), ("", None),
    ("114,22,nan,23", "malformed"), ("114,22,inf,23", "malformed"), ("1,,3,4", "malformed"),
    ("114.1,22,114.0,23", "out_of_range"),   # west > east
    ("114,23,115,22", "out_of_range"),        # south > north
    ("-181,0,0,1", "out_of_range"), ("0,-91,1,0", "out_of_range"), ("0,0,181,1", "out_of_range"),
])
def test_bad_bbox_is_422(client, city, disp, bbox, code):
    resp = client.get(FEED, query_string={"bbox": bbox}, headers=disp)
    if code is None:  # empty means no box
        assert resp.status_code == 200
        return
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["fields"] == {"bbox": code}


# ---------------------------------------------------------------- deadline state at its edges

def _state(client, headers) -> str:
    (f,) = _feed(client, headers)["features"]
    return f["properties"]["sla_state"]


def test_sla_state_edges(client, city, disp, make_order, clock):
    oid = make_order()
    warn_at, deadline_at = _times(client.application, oid)
    assert deadline_at - warn_at == timedelta(hours=4)  # the fault policy's warning lead
    for at, expected in [
        (warn_at - timedelta(microseconds=1), "ok"),
        (warn_at, "due_soon"),              # exactly at the warning lead: due soon
        (deadline_at - timedelta(microseconds=1), "due_soon"),
        (deadline_at, "overdue"),           # exactly at the deadline: overdue
        (deadline_at + timedelta(days=3), "overdue"),
    ]:
        clock.set(at)
        assert _state(client, disp) == expected, at
        assert _ids(_feed(client, disp, sla_state=expected)) == [oid]
        others = ",".join(s for s in ("ok", "due_soon", "overdue") if s != expected)
        assert _ids(_feed(client, disp, sla_state=others)) == []


def test_paused_order_keeps_the_state_it_had_when_its_clock_stopped(client, city, disp, make_order, order_action,
                                                                  clock):
    oid = make_order()
    with client.application.app_context():
        tech = db.session.get(RepairOrder, oid).technician.username
    for action in ("accept", "depart", "arrive"):
        order_action(oid, action, tech)
    warn_at, deadline_at = _times(client.application, oid)
    clock.set(warn_at - timedelta(hours=1))
    order_action(oid, "wait_customer", tech, note="not at home")
    clock.set(deadline_at + timedelta(hours=5))  # long after the original deadline
    (f,) = _feed(client, disp)["features"]
    assert f["properties"]["status"] == "waiting_customer" and f["properties"]["sla_state"] == "ok"
    # the deadline moves on while the clock is paused (as GET /orders/{id} shows it)
    assert f["properties"]["deadline_at"] == client.get(f"/api/v1/orders/{oid}", headers=disp).get_json()["deadline_at"]


# ---------------------------------------------------------------- filters

def test_filters(client, city, disp, make_order, clock):
    fault_s1 = make_order(22.505, 114.005, category="DTV-MOSAIC")
    bb_s2 = make_order(22.505, 114.015, category="BB-SLOW")
    install_s1 = make_order(22.506, 114.005, category="INST-BB")
    unassigned = make_order(22.507, 114.005, category="BB-FIBER-BREAK")
    everything = {fault_s1, bb_s2, install_s1, unassigned}
    assert set(_ids(_feed(client, disp))) == everything
    assert set(_ids(_feed(client, disp, station="S02"))) == {bb_s2}
    assert set(_ids(_feed(client, disp, station="s01"))) == {fault_s1, install_s1, unassigned}
    assert set(_ids(_feed(client, disp, station="S01,S02"))) == everything
    assert _ids(_feed(client, disp, station="NOPE")) == []
    assert set(_ids(_feed(client, disp, status="new"))) == {unassigned}
    assert set(_ids(_feed(client, disp, status="assigned,new"))) == everything
    assert set(_ids(_feed(client, disp, kind="installation"))) == {install_s1}
    assert set(_ids(_feed(client, disp, kind="fault"))) == {fault_s1, bb_s2, unassigned}
    assert set(_ids(_feed(client, disp, service_line="broadband"))) == {bb_s2, install_s1, unassigned}
    assert set(_ids(_feed(client, disp, service_line="digital_tv"))) == {fault_s1}
    assert set(_ids(_feed(client, disp, service_line="broadband", station="S01", kind="fault"))) == {unassigned}


@pytest.mark.parametrize("name, value", [
    ("status", "resolved"), ("status", "bogus"), ("status", "new,bogus"), ("kind", "meteor"),
    ("sla_state", "late"), ("service_line", "telepathy"), ("station", "X" * 30),
])
def test_bad_filters_are_422(client, city, disp, name, value):
    resp = client.get(FEED, query_string={name: value}, headers=disp)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert name in resp.get_json()["error"]["fields"]


# ---------------------------------------------------------------- who sees what

def test_roles(client, city, make_user, token_for, make_order):
    make_order()
    for role in ("technician", "stockkeeper"):
        assert client.get(FEED, headers=token_for(make_user(role))).status_code == 403
    assert client.get(FEED).status_code == 401
    for role in ("admin", "supervisor"):
        assert client.get(FEED, headers=token_for(make_user(role, station=None))).status_code == 200


def test_station_supervisor_sees_only_their_station(client, city, make_user, token_for, make_order):
    make_order(22.505, 114.005)
    s2_order = make_order(22.505, 114.015)
    sup = make_user("supervisor", station=city.s2)
    assert _ids(_feed(client, token_for(sup))) == [s2_order]


def test_openapi_documents_the_feed(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "get" in paths["/orders.geojson"] and "get" in paths["/orders/{order_id}/candidates"]
    names = {p["name"] for p in paths["/orders.geojson"]["get"]["parameters"]}
    assert names == {"bbox", "station", "status", "kind", "sla_state", "service_line"}


# ---------------------------------------------------------------- cost

def _count(client, headers, count_queries, **params) -> tuple[int, int]:
    with count_queries() as seen:
        fc = _feed(client, headers, **params)
    return fc["count"], len(seen)


def test_query_count_does_not_grow_with_the_orders(client, city, disp, make_order, count_queries, clock):
    for i in range(5):
        make_order(22.501 + i * 0.0001, 114.001)
    _feed(client, disp)  # the token's first use writes its last_used_at; later ones (same minute) do not
    small, q_small = _count(client, disp, count_queries, bbox="114,22.5,114.02,22.51")
    for i in range(45):
        make_order(22.502 + i * 0.0001, 114.002 + (i % 3) * 0.006,
                   category=("DTV-MOSAIC", "BB-SLOW", "INST-BB")[i % 3])
    big, q_big = _count(client, disp, count_queries, bbox="114,22.5,114.02,22.51")
    assert (small, big) == (5, 50)
    assert q_big == q_small, (q_small, q_big)
    # and filters add no queries either
    _n, q_filtered = _count(client, disp, count_queries, bbox="114,22.5,114.02,22.51", station="S01",
                            sla_state="ok,due_soon", service_line="broadband", kind="fault,installation")
    assert q_filtered == q_small


def test_feed_is_one_select(client, city, disp, make_order, count_queries):
    make_order()
    with count_queries() as seen:
        _feed(client, disp)
    feed = [s for s in seen if "repair_orders" in s]
    assert len(feed) == 1 and feed[0].lstrip().upper().startswith("SELECT")


def test_centre_manager_and_admin_see_every_station(client, city, make_user, token_for, make_order):
    orders = sorted([make_order(22.505, 114.005), make_order(22.505, 114.015)])
    for user in (make_user("supervisor", station=None), make_user("admin")):
        assert sorted(_ids(_feed(client, token_for(user)))) == orders
