"""The stock API: /items, /locations, /stock, /stock/moves, /units/{serial}."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.extensions import db
from inventory import services
from inventory.models import StockLevel, StockMove


@pytest.fixture
def setup(app, make_station, make_user):
    s1, s2 = make_station("S01"), make_station("S02", lon=114.1)
    keeper = make_user("stockkeeper", username="keeper", station=s1)
    tech = make_user("technician", username="tech", station=s1)
    make_user("technician", username="tech2", station=s2)
    admin = make_user("admin", username="boss")
    with app.app_context():
        boss = db.session.get(type(admin), admin.id)
        services.save_item(sku="CON-F", name="F connector", category="connector", reorder_point=3, actor=boss)
        services.save_item(sku="STB-1", name="Box", category="set_top_box", is_serialized=True, actor=boss)
        db.session.commit()
    return {"keeper": keeper, "tech": tech, "admin": admin}


def move(client, **body):
    return client.post("/api/v1/stock/moves", json=body)


def count_moves(app):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(StockMove))


def test_items_and_locations(client, setup, login):
    login(setup["tech"])
    items = client.get("/api/v1/items").get_json()
    assert items["total"] == 2 and {i["sku"]: i["serialized"] for i in items["items"]} == {"CON-F": False, "STB-1": True}
    locs = client.get("/api/v1/locations?per_page=100").get_json()["items"]
    by_code = {loc["code"]: loc for loc in locs}
    assert by_code["S01"]["kind"] == "store" and by_code["S01"]["station"] == "S01"
    assert by_code["VAN-TECH"] == {"code": "VAN-TECH", "name": "tech", "kind": "van", "station": "S01",
                                   "technician": "tech"}
    assert {"REPAIR", "CUSTOMERS", "SUPPLIER", "SCRAP"} <= set(by_code)
    assert client.get("/api/v1/locations?kind=van").get_json()["total"] == 2


def test_moves_and_stock(app, client, setup, login):
    login(setup["keeper"])
    resp = move(client, type="receive", sku="CON-F", qty=10, to="S01", reason="delivery 1")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert (body["type"], body["sku"], body["qty"], body["from"], body["to"], body["actor"]) == (
        "receive", "CON-F", 10, "SUPPLIER", "S01", "keeper")
    assert move(client, type="transfer", sku="CON-F", qty=4, **{"from": "S01"}, to="VAN-TECH").status_code == 201
    stock = client.get("/api/v1/stock?sku=CON-F").get_json()
    assert {(i["location"], i["qty"]) for i in stock["items"]} == {("S01", 6), ("VAN-TECH", 4)}
    assert client.get("/api/v1/stock?location=van-tech").get_json()["items"][0]["qty"] == 4
    resp = move(client, type="transfer", sku="CON-F", qty=7, **{"from": "S01"}, to="VAN-TECH")
    assert resp.status_code == 409 and resp.get_json()["error"]["fields"] == {"qty": "not_enough"}
    assert count_moves(app) == 2


def test_idempotency_key_replays_the_move(app, client, setup, login):
    login(setup["keeper"])
    body = {"type": "receive", "sku": "CON-F", "qty": 3, "to": "S01"}
    first = client.post("/api/v1/stock/moves", json=body, headers={"Idempotency-Key": "k-1"})
    again = client.post("/api/v1/stock/moves", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true" and again.get_json() == first.get_json()
    assert count_moves(app) == 1
    assert client.post("/api/v1/stock/moves", json=dict(body, qty=4), headers={"Idempotency-Key": "k-1"}).status_code == 422


def test_units(client, setup, login):
    login(setup["keeper"])
    assert move(client, type="receive", sku="STB-1", serial="ab-1", to="S01").status_code == 201
    assert move(client, type="transfer", serial="AB-1", **{"from": "S01"}, to="VAN-TECH").status_code == 201
    resp = move(client, type="transfer", serial="AB-1", **{"from": "S01"}, to="VAN-TECH")
    assert resp.status_code == 409 and resp.get_json()["error"]["fields"] == {"serial": "elsewhere"}
    unit = client.get("/api/v1/units/AB-1").get_json()
    assert (unit["serial"], unit["sku"], unit["status"], unit["location"]) == ("AB-1", "STB-1", "in_van", "VAN-TECH")
    assert [m["type"] for m in unit["history"]] == ["receive", "transfer"]
    assert client.get("/api/v1/units/NOPE").status_code == 404


@pytest.mark.parametrize("body, status, field", [
    ({}, 422, "type"),
    ({"type": "receive", "sku": "CON-F", "qty": 0, "to": "S01"}, 422, "qty"),
    ({"type": "receive", "sku": "CON-F", "qty": -1, "to": "S01"}, 422, "qty"),
    ({"type": "receive", "sku": "CON-F", "qty": 1.5, "to": "S01"}, 422, "qty"),
    ({"type": "receive", "sku": "CON-F", "qty": "1e3", "to": "S01"}, 422, "qty"),
    ({"type": "receive", "sku": "NOPE", "qty": 1, "to": "S01"}, 422, "sku"),
    ({"type": "receive", "sku": ["CON-F"], "qty": 1, "to": "S01"}, 422, "sku"),
    ({"type": "receive", "sku": "CON-F", "serial": "X", "to": "S01"}, 422, "serial"),
    ({"type": "receive", "sku": "STB-1", "qty": 3, "to": "S01"}, 422, "qty"),
    ({"type": "receive", "sku": "STB-1", "serial": 12, "to": "S01"}, 422, "serial"),
    ({"type": "transfer", "sku": "CON-F", "qty": 1, "from": "S01", "to": "S01"}, 422, "to"),
    ({"type": "transfer", "sku": "CON-F", "qty": 1, "from": "S01", "to": 5}, 422, "to"),
    ({"type": "transfer", "sku": "CON-F", "qty": 1, "from": "S01", "to": "VAN-TECH2"}, 403, "to"),
    ({"type": "receive", "sku": "CON-F", "qty": 1, "to": "S01", "order": "x"}, 422, "order"),
    ({"type": "receive", "sku": "CON-F", "qty": 1, "to": "S01", "reason": 5}, 422, "reason"),
    ({"type": "loan_out", "sku": "STB-1", "serial": "NOPE", "from": "S01", "customer": 1}, 422, "customer"),
])
def test_bad_moves(app, client, setup, login, body, status, field):
    login(setup["keeper"])
    resp = move(client, **body)
    assert resp.status_code == status, resp.get_json()
    assert field in resp.get_json()["error"].get("fields", {}), resp.get_json()
    assert count_moves(app) == 0


def test_malformed_json_and_roles(app, client, setup, login, token_for):
    headers = token_for(setup["tech"])
    resp = app.test_client().post("/api/v1/stock/moves", json={"type": "receive", "sku": "CON-F", "qty": 1, "to": "VAN-TECH"},
                       headers=headers)
    assert resp.status_code == 403
    login(setup["keeper"])
    resp = client.post("/api/v1/stock/moves", data="{", content_type="application/json")
    assert resp.status_code == 400
    assert count_moves(app) == 0


def test_technician_sees_own_van_and_store_only(app, client, setup, login):
    with app.app_context():
        admin = db.session.get(type(setup["admin"]), setup["admin"].id)
        for code in ("S01", "S02", "VAN-TECH", "VAN-TECH2"):
            services.record_move("receive", sku="CON-F", qty=2, target=code, actor=admin)
        db.session.commit()
    login(setup["tech"])
    seen = {i["location"] for i in client.get("/api/v1/stock").get_json()["items"]}
    assert seen == {"S01", "VAN-TECH"}


def test_documented_in_openapi(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, method in [("/items", "get"), ("/locations", "get"), ("/stock", "get"), ("/stock/moves", "post"),
                         ("/units/{serial}", "get")]:
        assert method in spec["paths"][path], path
    assert "409" in spec["paths"]["/stock/moves"]["post"]["responses"]


def test_levels_never_negative_in_the_database(ctx, setup):
    """The CheckConstraint is the last line: even a raw update cannot go below zero."""
    keeper = db.session.get(type(setup["keeper"]), setup["keeper"].id)
    services.record_move("receive", sku="CON-F", qty=1, target="S01", actor=keeper)
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.update(StockLevel).values(qty=-1))
    db.session.rollback()
