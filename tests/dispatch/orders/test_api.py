"""The /api/v1 order routes: shapes, filters, errors that write nothing, idempotency."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.extensions import db
from dispatch.orders.models import OrderEvent, RepairOrder


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(sa.select(sa.func.count()).select_from(RepairOrder)),
                db.session.scalar(sa.select(sa.func.count()).select_from(OrderEvent)))


def _body(city, **extra):
    data = {"customer_id": city.customer.id, "category": "DTV-MOSAIC", "description": "Mosaic on every channel",
            "channel": "web"}
    data.update(extra)
    return data


@pytest.fixture
def disp(city, token_for):
    return token_for(city.dispatcher)


def test_categories(client, city, token_for):
    resp = client.get("/api/v1/categories", headers=token_for(city.t1))
    assert resp.status_code == 200
    item = next(i for i in resp.get_json()["items"] if i["code"] == "BB-SLOW")
    assert item == {**item, "kind": "fault", "service_line": "broadband", "skill": "broadband", "weight": 1.6}


def test_create_and_read_an_order(client, city, disp, clock):
    resp = client.post("/api/v1/orders", json=_body(city), headers=disp)
    assert resp.status_code == 201, resp.get_json()
    order = resp.get_json()
    assert order["station"] == "S01" and order["status"] == "assigned" and order["channel"] == "web"
    assert order["deadline_at"] == "2026-03-03T09:00:00+08:00" and order["sla_state"] == "ok"
    assert order["customer"]["phone"].count("*") == 4
    assert [e["type"] for e in order["events"]] == ["created", "assigned"]
    assert order["events"][1]["actor"] == "disp"
    got = client.get(f"/api/v1/orders/{order['id']}", headers=disp).get_json()
    assert got["number"] == order["number"] and got["events"][1]["note"].startswith("inside S01's area")


def test_openapi_lists_the_order_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"post", "get"} <= set(paths["/orders"]) and "post" in paths["/orders/{order_id}/transitions"]
    assert "get" in paths["/categories"] and "post" in paths["/orders/{order_id}/assign"]


BAD = [
    ({"lat": 91, "lon": 114.0}, 422),
    ({"lat": 22.5, "lon": 200}, 422),
    ({"lat": "abc", "lon": "def"}, 422),
    ({"customer_id": "one"}, 422),
    ({"customer_id": 999999}, 404),
    ({"category": "NOPE"}, 404),
    ({"category": 7}, 422),
    ({"description": ""}, 422),
    ({"description": "x" * 1_000_000}, 422),
    ({"reported_at": "2099-01-01T00:00:00+08:00"}, 422),
    ({"reported_at": "2020-01-01T00:00:00+08:00"}, 422),
    ({"priority": ["high"]}, 422),
]


@pytest.mark.parametrize("extra, status", BAD)
def test_bad_orders_are_refused_and_write_nothing(app, client, city, disp, clock, extra, status):
    before = _counts(app)
    resp = client.post("/api/v1/orders", json=_body(city, **extra), headers=disp)
    assert resp.status_code == status
    assert "error" in resp.get_json()
    assert _counts(app) == before


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b""])
def test_malformed_json_is_400(app, client, city, disp, raw):
    resp = client.post("/api/v1/orders", data=raw, headers={**disp, "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "bad_request"
    assert _counts(app) == (0, 0)


def test_idempotency_key_replays_and_refuses_another_body(app, client, city, disp):
    headers = {**disp, "Idempotency-Key": "abc-123"}
    first = client.post("/api/v1/orders", json=_body(city), headers=headers)
    again = client.post("/api/v1/orders", json=_body(city), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert _counts(app)[0] == 1
    other = client.post("/api/v1/orders", json=_body(city, description="Another"), headers=headers)
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    fresh = client.post("/api/v1/orders", json=_body(city), headers={**disp, "Idempotency-Key": "abc-124"})
    assert fresh.status_code == 201 and _counts(app)[0] == 2


def test_a_failed_request_releases_its_key(app, client, city, disp):
    headers = {**disp, "Idempotency-Key": "k-1"}
    assert client.post("/api/v1/orders", json=_body(city, lat=91, lon=1), headers=headers).status_code == 422
    assert client.post("/api/v1/orders", json=_body(city), headers=headers).status_code == 201


def test_a_claim_committed_with_nobody_behind_it_is_taken_over(app, client, city, disp):
    """A running request's claim is never committed (it dies with its transaction); a committed
    "in_progress" record (left by a version that committed claims apart) has no owner: no 409."""
    from core.auth import find_user
    from core.idempotency import IdempotencyRecord
    with app.app_context():
        with app.test_request_context("/api/v1/orders", method="POST", json=_body(city)):
            from core.idempotency import _request_hash
            digest = _request_hash()
        db.session.add(IdempotencyRecord(key="left", user_id=find_user("disp").id, request_hash=digest,
                                         status="in_progress"))
        db.session.commit()
    resp = client.post("/api/v1/orders", json=_body(city), headers={**disp, "Idempotency-Key": "left"})
    assert resp.status_code == 201 and _counts(app)[0] == 1
    again = client.post("/api/v1/orders", json=_body(city), headers={**disp, "Idempotency-Key": "left"})
    assert again.headers["Idempotent-Replayed"] == "true" and _counts(app)[0] == 1


@pytest.mark.postgres_only
def test_a_running_request_with_the_key_is_409(app, client, city, disp):
    from core.auth import find_user
    from core.idempotency import LOCK_CLASS, _lock_key
    with app.app_context():
        engine, user_id = db.engine, find_user("disp").id
    headers = {**disp, "Idempotency-Key": "busy"}
    with engine.connect() as running:  # the first request's transaction, still at work, holds the key
        running.execute(sa.text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": LOCK_CLASS, "k": _lock_key(user_id, "busy")})
        resp = client.post("/api/v1/orders", json=_body(city), headers=headers)
        assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "idempotency_in_progress"
        running.rollback()  # it failed (or its process died): the key is free at once
    assert client.post("/api/v1/orders", json=_body(city), headers=headers).status_code == 201
    assert _counts(app)[0] == 1


def test_transitions_through_the_api(client, city, disp, token_for, stock_van):
    stock_van(city.t1, loaners=("STB0001",))
    stock_van(city.t2, loaners=("STB0001X",))
    order = client.post("/api/v1/orders", json=_body(city), headers=disp).get_json()
    loaner = "STB0001" if order["technician"]["username"] == "t1" else "STB0001X"
    tech = token_for(city.t1 if order["technician"]["username"] == "t1" else city.t2)
    url = f"/api/v1/orders/{order['id']}/transitions"
    assert client.post(url, json={"action": "depart"}, headers=tech).status_code == 409
    other = token_for(city.t3)
    assert client.post(url, json={"action": "accept"}, headers=other).status_code == 404  # not theirs: not there
    for action in ("accept", "depart", "arrive"):
        resp = client.post(url, json={"action": action, "lat": 22.505, "lon": 114.005}, headers=tech)
        assert resp.status_code == 200, resp.get_json()
    resp = client.post(url, json={"action": "resolve"}, headers=tech)
    assert resp.status_code == 422 and "resolution_code" in resp.get_json()["error"]["fields"]
    resp = client.post(url, json={"action": "resolve", "resolution_code": "reseated_cable",
                                  "parts": [{"sku": "CONN-F", "qty": 2}], "loan": {"serial": loaner}}, headers=tech)
    assert resp.status_code == 200 and resp.get_json()["status"] == "resolved"
    assert client.post(url, json={"action": "close"}, headers=tech).status_code == 403
    done = client.post(url, json={"action": "close"}, headers=disp).get_json()
    assert [e["type"] for e in done["events"]][-5:] == ["accepted", "departed", "arrived", "resolved", "closed"]
    assert done["events"][-2]["parts"] == [{"sku": "CONN-F", "qty": 2}]
    assert client.post(url, json={"action": "fly"}, headers=disp).status_code == 422
    # a technician sees only their own orders; others' do not exist for them
    assert client.get(f"/api/v1/orders/{order['id']}", headers=other).status_code == 404
    assert client.get("/api/v1/orders", headers=other).get_json()["total"] == 0


def test_assign_route(client, city, disp):
    order = client.post("/api/v1/orders", json=_body(city), headers=disp).get_json()
    url = f"/api/v1/orders/{order['id']}/assign"
    resp = client.post(url, json={"technician_id": city.t3.id, "reason": "asked", "version": order["version"]},
                       headers=disp)
    assert resp.status_code == 200 and resp.get_json()["technician"]["username"] == "t3"
    stale = client.post(url, json={"station": "S01", "reason": "x", "version": order["version"]}, headers=disp)
    assert stale.status_code == 409
    assert client.post(url, json={}, headers=disp).status_code == 422
    assert client.post(url, json={"technician_id": "t3", "reason": "x"}, headers=disp).status_code == 422


def test_list_filters(client, city, disp, clock):
    client.post("/api/v1/orders", json=_body(city), headers=disp)
    client.post("/api/v1/orders", json=_body(city, lat=22.505, lon=114.015), headers=disp)
    old = (clock.current - timedelta(hours=26)).isoformat()
    client.post("/api/v1/orders", json=_body(city, reported_at=old), headers=disp)

    def total(query: str) -> int:
        resp = client.get(f"/api/v1/orders?{query}", headers=disp)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()["total"]

    assert total("") == 3 and total("station=S02") == 1 and total("overdue=true") == 1
    assert total("overdue=false") == 2 and total("status=assigned") == 3
    assert total("bbox=114.01,22.5,114.02,22.51") == 1 and total("technician=t3") == 1
    assert total("per_page=1") == 3
    for bad in ("bbox=1,2,3", "bbox=200,0,201,1", "overdue=maybe", "status=lost", "page=x"):
        assert client.get(f"/api/v1/orders?{bad}", headers=disp).status_code == 422
    assert client.get("/api/v1/orders?station=NOPE", headers=disp).status_code == 404


def test_pin_location_route(client, city, disp, make_customer):
    nowhere = make_customer(lat=None, lon=None, address="")
    order = client.post("/api/v1/orders", json=_body(city, customer_id=nowhere.id), headers=disp).get_json()
    assert order["needs_location"] and order["station"] is None
    url = f"/api/v1/orders/{order['id']}/location"
    assert client.post(url, json={"lat": 95, "lon": 114}, headers=disp).status_code == 422
    resp = client.post(url, json={"lat": 22.505, "lon": 114.015}, headers=disp)
    assert resp.status_code == 200 and resp.get_json()["station"] == "S02"


def test_expired_keys_are_purged_and_reusable(app, client, city, disp, clock):
    from core.idempotency import purge_expired
    headers = {**disp, "Idempotency-Key": "old-key"}
    assert client.post("/api/v1/orders", json=_body(city), headers=headers).status_code == 201
    clock.advance(hours=25)
    with app.app_context():
        assert purge_expired().startswith("1 ")
        db.session.commit()
    again = client.post("/api/v1/orders", json=_body(city, description="new body"), headers=headers)
    assert again.status_code == 201 and _counts(app)[0] == 2


def test_search_does_not_tell_a_masked_number(client, city, disp, clock, make_customer):
    """The phone oracle: 1380___8002 matched a masked 138****8002 through LIKE, digit by digit."""
    wang = make_customer(name="Wang Fang", phone="13800138002", address="1 Shennan Rd", lat=22.505, lon=114.005)
    order = client.post("/api/v1/orders", json=_body(city, customer_id=wang.id), headers=disp).get_json()
    client.post("/api/v1/orders", json=_body(city), headers=disp)  # another customer's

    def numbers(q: str) -> list[str]:
        resp = client.get("/api/v1/orders", query_string={"q": q}, headers=disp)
        assert resp.status_code == 200, resp.get_json()
        return [o["number"] for o in resp.get_json()["items"]]

    for probe in ("1380___8002", "138_0138002", "%", "_", "1380%", "13800", "0138", "8002"):
        assert numbers(probe) == [], probe
    assert numbers("13800138002") == numbers("138 0013 8002") == numbers("Fang") == [order["number"]]
    assert numbers("Shennan Rd") == numbers(order["number"]) == [order["number"]]
