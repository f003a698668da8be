"""GET /api/v1/orders/{id}/candidates: the popup's best technicians, ranked by the orders' own scoring."""
from __future__ import annotations

from core.extensions import db
from dispatch.orders.models import RepairOrder


def test_candidates_rank_on_duty_technicians_of_the_station(client, city, token_for, make_order, app):
    oid = make_order(22.5011, 114.0011)  # next to t1's last position
    with app.app_context():
        holder = db.session.get(RepairOrder, oid).technician.username
    resp = client.get(f"/api/v1/orders/{oid}/candidates", headers=token_for(city.dispatcher))
    assert resp.status_code == 200
    items = resp.get_json()["items"]
    assert sorted(c["username"] for c in items) == ["t1", "t2"]  # S01's technicians; t3 works at S02
    assert [c["score"] for c in items] == sorted(c["score"] for c in items)  # best first
    by_name = {c["username"]: c for c in items}
    assert holder == "t1" and by_name["t1"]["is_current"] is True and by_name["t2"]["is_current"] is False
    assert by_name["t1"]["distance_km"] < 0.1 < by_name["t2"]["distance_km"]
    assert by_name["t1"]["open_orders"] == 1 and by_name["t2"]["open_orders"] == 0
    assert set(items[0]) >= {"technician_id", "username", "distance_km", "open_orders", "open_points", "score"}


def test_candidates_errors(client, city, token_for, make_user, make_order):
    oid = make_order()
    disp = token_for(city.dispatcher)
    assert client.get("/api/v1/orders/999999/candidates", headers=disp).status_code == 404
    assert client.get(f"/api/v1/orders/{oid}/candidates", headers=token_for(city.t1)).status_code == 403
    other_sup = make_user("supervisor", station=city.s2)  # the order is at S01
    assert client.get(f"/api/v1/orders/{oid}/candidates", headers=token_for(other_sup)).status_code == 404


def test_assign_from_the_popup_shows_in_the_feed(client, city, token_for, make_order, app):
    """What the map's Reassign button does: POST the orders' assign route, then the feed shows the new holder."""
    oid = make_order(22.5011, 114.0011)
    disp = token_for(city.dispatcher)
    order = client.get(f"/api/v1/orders/{oid}", headers=disp).get_json()
    t2 = next(c for c in client.get(f"/api/v1/orders/{oid}/candidates", headers=disp).get_json()["items"]
              if c["username"] == "t2")
    resp = client.post(f"/api/v1/orders/{oid}/assign", headers=disp,
                       json={"technician_id": t2["technician_id"], "reason": "closer to the next job",
                             "version": order["version"]})
    assert resp.status_code == 200, resp.get_json()
    (f,) = client.get("/api/v1/orders.geojson", headers=disp).get_json()["features"]
    assert f["properties"]["technician"] == "t2"
    events = client.get(f"/api/v1/orders/{oid}", headers=disp).get_json()["events"]
    reassigned = [e for e in events if e["type"] == "reassigned"]
    assert len(reassigned) == 1 and reassigned[0]["actor"] == "disp" and reassigned[0]["technician"] == "t2"


def test_candidates_say_when_and_why_the_order_cannot_change_hands(client, city, token_for, make_order,
                                                                  order_action):
    """The popup shows a sentence instead of the Assign buttons: the server says whether and why not."""
    oid = make_order(22.5011, 114.0011)  # auto-assigned to t1
    disp = token_for(city.dispatcher)

    def answer() -> dict:
        resp = client.get(f"/api/v1/orders/{oid}/candidates", headers=disp)
        assert resp.status_code == 200
        return resp.get_json()

    first = answer()
    assert first["assignable"] is True and first["why_not"] is None
    order_action(oid, "accept", "t1")
    assert answer()["assignable"] is True
    for action, words in (("depart", "on the way"), ("arrive", "on site"), ("wait_parts", "Waiting for parts"),
                          ("resume", "on site"), ("wait_customer", "Waiting for the customer")):
        order_action(oid, action, "t1")
        got = answer()
        assert got["assignable"] is False and words in got["why_not"], (action, got)
        assert [c["username"] for c in got["items"]]  # the technicians are still listed, without buttons
    # what the popup says is what the assign route enforces
    t2 = next(c for c in answer()["items"] if c["username"] == "t2")
    refused = client.post(f"/api/v1/orders/{oid}/assign", headers=disp,
                          json={"technician_id": t2["technician_id"], "reason": "closer"})
    assert refused.status_code == 409
    order_action(oid, "resume", "t1")
    order_action(oid, "resolve", "t1", resolution_code="FIXED")
    got = answer()
    assert got["assignable"] is False and got["why_not"] == "This order is resolved: there is nothing left to assign."


def test_why_not_for_someone_who_may_not_manage_the_order(app, city, make_order):
    from core.auth import get_user
    from dispatch.livemap import services as map_service
    from dispatch.orders import services

    oid = make_order(22.5011, 114.0011)
    with app.app_context():
        order = services.get_order(oid)
        assert map_service.why_not_assignable(order, get_user(city.dispatcher.id)) is None
        holder = get_user(order.technician_id)  # sees the order (it is theirs), may not hand it on
        assert map_service.why_not_assignable(order, holder).startswith("You may not reassign this order")


def test_openapi_documents_whether_the_order_can_be_assigned(client):
    schema = client.get("/api/v1/openapi.json").get_json()["paths"]["/orders/{order_id}/candidates"]["get"]
    body = schema["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"assignable", "why_not"} <= set(body["properties"])
