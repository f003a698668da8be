"""The offline replay endpoint: each queued action applied once, oldest first; conflicts reported, not applied."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.extensions import db
from dispatch.orders import services
from dispatch.orders.models import OrderEvent


@pytest.fixture(autouse=True)
def _synced_later(clock, shop):
    """The job was assigned at 01:00 UTC (the frozen clock); the queues below reach the server at 01:30."""
    clock.advance(minutes=30)


def _events(app, order_id, *types):
    with app.app_context():
        stmt = sa.select(OrderEvent.type).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
        return [t for t in db.session.scalars(stmt) if not types or t in types]


def _status(app, order_id):
    with app.app_context():
        return services.get_order(order_id).status


def _sync(client, items):
    return client.post("/field/sync", json={"items": items})


def _item(order_id, key, action, at, **extra):
    return {"key": key, "order_id": order_id, "action": action, "note": "", "at": at, **extra}


STEPS = ("accepted", "departed", "arrived")


def test_actions_replayed_in_order_once(app, client, login, shop):
    login(shop.tech)
    items = [_item(shop.order_id, "k1", "accept", "2026-03-02T01:00:00Z"),
             _item(shop.order_id, "k2", "depart", "2026-03-02T01:05:00Z", lat=22.501, lon=114.001),
             _item(shop.order_id, "k3", "arrive", "2026-03-02T01:20:00Z")]
    resp = _sync(client, items)
    assert resp.status_code == 200
    assert [(r["key"], r["outcome"], r["status"]) for r in resp.json["results"]] == [
        ("k1", "applied", 200), ("k2", "applied", 200), ("k3", "applied", 200)]
    assert _events(app, shop.order_id, *STEPS) == ["accepted", "departed", "arrived"]
    assert _status(app, shop.order_id) == "on_site"
    with app.app_context():
        departed = db.session.scalar(sa.select(OrderEvent).where(OrderEvent.type == "departed"))
        assert (departed.lat, departed.lon) == (22.501, 114.001)
        assert services.assignment.duty_of(shop.tech.id).last_lat == 22.501


def test_duplicates_change_nothing(app, client, login, shop):
    login(shop.tech)
    items = [_item(shop.order_id, "a", "accept", "2026-03-02T01:00:00Z"),
             _item(shop.order_id, "b", "depart", "2026-03-02T01:05:00Z")]
    assert [r["outcome"] for r in _sync(client, items).json["results"]] == ["applied", "applied"]
    # the answer was lost: the phone sends the same queue again, plus one more
    again = _sync(client, items + [_item(shop.order_id, "c", "arrive", "2026-03-02T01:09:00Z")])
    assert [r["outcome"] for r in again.json["results"]] == ["duplicate", "duplicate", "applied"]
    # the same key twice in one batch counts once too
    twice = _sync(client, [_item(shop.order_id, "d", "wait_customer", "2026-03-02T01:10:00Z")] * 2)
    assert [r["outcome"] for r in twice.json["results"]] == ["applied", "duplicate"]
    assert _events(app, shop.order_id, *STEPS, "waiting_customer") == [
        "accepted", "departed", "arrived", "waiting_customer"]


def test_out_of_order_batch_is_applied_oldest_first(app, client, login, shop):
    login(shop.tech)
    items = [_item(shop.order_id, "late", "depart", "2026-03-02T09:10:00+08:00"),
             _item(shop.order_id, "early", "accept", "2026-03-02T09:05:00+08:00")]
    results = _sync(client, items).json["results"]
    assert [(r["key"], r["outcome"]) for r in results] == [("late", "applied"), ("early", "applied")]
    assert _events(app, shop.order_id, *STEPS) == ["accepted", "departed"]


def test_an_action_that_no_longer_fits_is_a_conflict(app, client, login, shop):
    login(shop.tech)
    _sync(client, [_item(shop.order_id, "a", "accept", "2026-03-02T01:00:00Z")])
    # an older action replayed after a newer one: the order has moved on
    results = _sync(client, [_item(shop.order_id, "b", "arrive", "2026-03-02T01:01:00Z"),
                             _item(shop.order_id, "c", "depart", "2026-03-02T01:02:00Z")]).json["results"]
    assert [(r["key"], r["outcome"], r["status"]) for r in results] == [("b", "conflict", 409), ("c", "applied", 200)]
    assert results[0]["code"] == "illegal_transition"
    assert _events(app, shop.order_id, *STEPS) == ["accepted", "departed"]
    # a refused key is kept as refused: sending it again does not apply it later
    results = _sync(client, [_item(shop.order_id, "b", "arrive", "2026-03-02T01:01:00Z")]).json["results"]
    assert results[0]["outcome"] == "conflict" and _status(app, shop.order_id) == "en_route"


def test_reassigned_while_offline_is_a_conflict_with_no_event(app, client, login, shop):
    from core.auth import get_user
    with app.app_context():
        services.assign(services.get_order(shop.order_id), get_user(shop.disp.id), technician_id=shop.mate.id,
                        reason="closer")
        db.session.commit()
    before = _events(app, shop.order_id)
    login(shop.tech)
    resp = _sync(client, [_item(shop.order_id, "x", "accept", "2026-03-02T01:00:00Z")])
    assert resp.status_code == 200
    result = resp.json["results"][0]
    assert (result["outcome"], result["status"], result["code"]) == ("conflict", 409, "reassigned")
    assert _events(app, shop.order_id) == before
    assert _status(app, shop.order_id) == "assigned"


def test_unknown_order_and_bad_items(app, client, login, shop):
    login(shop.tech)
    results = _sync(client, [_item(999999, "n", "accept", "2026-03-02T01:00:00Z"),
                             _item(shop.order_id, "m", "close", "2026-03-02T01:00:00Z"),
                             _item(shop.order_id, "d", "decline", "2026-03-02T01:00:00Z")]).json["results"]
    assert [(r["outcome"], r["status"]) for r in results] == [("conflict", 404), ("invalid", 422), ("invalid", 422)]
    assert _sync(client, []).status_code == 422
    assert _sync(client, [{"order_id": shop.order_id, "action": "accept"}]).status_code == 422  # no key
    assert client.post("/field/sync", data="nope", content_type="application/json").status_code == 400
    assert _status(app, shop.order_id) == "assigned"


def test_position_not_kept_off_duty(app, client, login, shop):
    from core.auth import get_user
    with app.app_context():
        services.set_duty(get_user(shop.tech.id), on_duty=False)
        db.session.commit()
    login(shop.tech)
    _sync(client, [_item(shop.order_id, "p", "accept", "2026-03-02T01:00:00Z", lat=22.5, lon=114.0)])
    with app.app_context():
        accepted = db.session.scalar(sa.select(OrderEvent).where(OrderEvent.type == "accepted"))
        assert accepted.lat is None and services.assignment.duty_of(shop.tech.id).last_lat is None
    assert client.post("/field/position", json={"lat": 22.5, "lon": 114.0},
                       headers={"Accept": "application/json"}).status_code == 409


def test_get_gives_a_csrf_token(client, login, shop):
    login(shop.tech)
    assert client.get("/field/sync").json["csrf_token"]


def _to_site(order_id):
    return [_item(order_id, f"k{i}", a, f"2026-03-02T01:0{i}:00Z") for i, a in enumerate(("accept", "depart", "arrive"))]


def test_a_resolve_queued_offline_books_its_stock_once(app, client, login, shop, van_stock):
    from inventory import services as inventory
    van = van_stock(shop.tech)
    login(shop.tech)
    steps = _to_site(shop.order_id)
    resolve = _item(shop.order_id, "r", "resolve", "2026-03-02T01:09:00Z", resolution_code="FIXED",
                    parts=[{"code": "conn-f", "qty": 2}, {"code": "LN2", "qty": 1}], loan={"serial": "LN1"})
    results = _sync(client, steps + [resolve]).json["results"]
    assert [r["outcome"] for r in results] == ["applied"] * 4
    assert _sync(client, [resolve]).json["results"][0]["outcome"] == "duplicate"
    with app.app_context():
        assert inventory.level_of(inventory.location_by_code(van), inventory.item_by_sku("CONN-F")) == 8
        assert inventory.unit_by_serial("LN1").location.kind == "customer"
        assert inventory.unit_by_serial("LN2").location.code != van  # issued to the job by its serial
        assert services.get_order(shop.order_id).status == "resolved"


def test_a_queued_resolve_short_of_stock_changes_nothing(app, client, login, shop, van_stock):
    from inventory import services as inventory
    van = van_stock(shop.tech)
    login(shop.tech)
    steps = _to_site(shop.order_id)
    resolve = _item(shop.order_id, "r", "resolve", "2026-03-02T01:09:00Z", resolution_code="FIXED",
                    parts=[{"code": "CONN-F", "qty": 11}], loan={"serial": "LN1"})
    results = _sync(client, steps + [resolve]).json["results"]
    assert [r["outcome"] for r in results] == ["applied"] * 3 + ["conflict"]
    assert "CONN-F" in results[3]["message"]
    assert _status(app, shop.order_id) == "on_site"
    assert "resolved" not in _events(app, shop.order_id)
    with app.app_context():
        assert inventory.level_of(inventory.location_by_code(van), inventory.item_by_sku("CONN-F")) == 10
        assert inventory.unit_by_serial("LN1").location.code == van
