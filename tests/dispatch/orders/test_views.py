"""The dispatcher's pages: queues, taking an order, the order page with its actions, privacy."""
from __future__ import annotations

import re

import sqlalchemy as sa

from core.audit import AuditEvent
from core.extensions import db
from dispatch.orders.models import RepairOrder


def _order_id(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.max(RepairOrder.id)))


def _take(client, city, **extra):
    data = {"customer_id": city.customer.id, "category": "DTV-MOSAIC", "description": "Frozen picture",
            "channel": "hotline"}
    data.update(extra)
    return client.post("/dispatch/orders/new", data=data)


def test_take_an_order_and_see_it_in_the_queues(app, client, city, login, clock):
    login(city.dispatcher)
    resp = _take(client, city)
    assert resp.status_code == 302 and "/dispatch/orders/" in resp.headers["Location"]
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "RO-20260302-0001" in page and "inside S01&#39;s area" in page
    assert "138****0001" in page and "13800000001" not in page
    assert 'data-testid="candidates"' in page
    queues = client.get("/dispatch/?queue=open").get_data(as_text=True)
    assert "RO-20260302-0001" in queues and "13800000001" not in queues
    assert "RO-20260302-0001" not in client.get("/dispatch/?queue=overdue").get_data(as_text=True)
    found = client.get("/dispatch/?queue=open&q=RO-20260302-0001").get_data(as_text=True)
    assert "RO-20260302-0001" in found
    assert "RO-20260302-0001" not in client.get("/dispatch/?queue=open&q=nobody-like-this").get_data(as_text=True)


def test_bad_form_shows_the_errors_and_writes_nothing(app, client, city, login):
    login(city.dispatcher)
    resp = _take(client, city, description="", lat="91", lon="200")
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert 'data-testid="form-error"' in page and "description" in page
    assert _order_id(app) is None


def test_new_customer_from_the_form(app, client, city, login):
    login(city.dispatcher)
    resp = client.post("/dispatch/orders/new", data={"name": "Han Mei", "phone": "13912345678",
                                                     "address": "3 Binhe Road", "category": "BB-SLOW",
                                                     "description": "Slow", "lat": "22.505", "lon": "114.015"})
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Han Mei" in page and "S02" in page


def test_customer_search_on_the_form(client, city, login):
    login(city.dispatcher)
    page = client.get("/dispatch/orders/new?q=13800000001").get_data(as_text=True)
    assert "Customer 1" in page and 'data-testid="customer-results"' in page


def test_actions_and_reassign_from_the_order_page(app, client, city, login):
    login(city.dispatcher)
    _take(client, city)
    oid = _order_id(app)
    resp = client.post(f"/dispatch/orders/{oid}/transition", data={"action": "accept"})
    assert resp.status_code == 302
    resp = client.post(f"/dispatch/orders/{oid}/transition", data={"action": "close"})  # illegal now
    assert resp.status_code == 303
    page = client.get(f"/dispatch/orders/{oid}").get_data(as_text=True)
    assert "flash-error" in page and "Accepted" in page
    resp = client.post(f"/dispatch/orders/{oid}/assign", data={"technician_id": str(city.t3.id), "reason": "closer"})
    assert resp.status_code == 302
    with app.app_context():
        order = db.session.get(RepairOrder, oid)
        assert order.technician_id == city.t3.id and order.status == "assigned"


def test_stale_form_is_refused(app, client, city, login):
    login(city.dispatcher)
    _take(client, city)
    oid = _order_id(app)
    page = client.get(f"/dispatch/orders/{oid}").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    client.post(f"/dispatch/orders/{oid}/assign", data={"technician_id": str(city.t3.id), "reason": "a",
                                                        "version": version})
    resp = client.post(f"/dispatch/orders/{oid}/assign", data={"station": "S01", "reason": "b", "version": version})
    assert resp.status_code == 303
    with app.app_context():
        assert db.session.get(RepairOrder, oid).technician_id == city.t3.id


def test_revealing_the_phone_is_audited(app, client, city, login):
    login(city.dispatcher)
    _take(client, city)
    oid = _order_id(app)
    page = client.post(f"/dispatch/orders/{oid}/reveal").get_data(as_text=True)
    assert "13800000001" in page
    with app.app_context():
        rows = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "customer.reveal_phone")).all()
        assert len(rows) == 1 and rows[0].actor_name == "disp" and "13800000001" not in str(rows[0].details)


def test_supervisor_sees_only_their_station(app, client, city, login):
    login(city.dispatcher)
    _take(client, city, lat="22.505", lon="114.015")  # S02
    oid = _order_id(app)
    client.post("/logout")
    login(city.supervisor)
    assert client.get(f"/dispatch/orders/{oid}").status_code == 404
    assert "RO-20260302" not in client.get("/dispatch/?queue=open").get_data(as_text=True)


def test_customer_history_marks_repeat_faults(app, client, city, login):
    login(city.dispatcher)
    _take(client, city)
    _take(client, city, category="DTV-STB-DEAD", confirm_duplicate="1")  # the customer has an open order
    page = client.get(f"/dispatch/customers/{city.customer.id}").get_data(as_text=True)
    assert page.count('data-testid="repeat"') == 2


def test_pages_in_chinese(client, city, login):
    login(city.dispatcher)
    _take(client, city)
    client.post("/language/zh_CN")
    page = client.get("/dispatch/").get_data(as_text=True)
    assert "未分配" in page and "Unassigned" not in page
    assert "数字电视马赛克" in page


def _csv(*rows: str) -> bytes:
    return ("account_no,category,description,lat,lon\n" + "\n".join(rows) + "\n").encode()


def test_csv_import_is_all_or_nothing(app, client, city, login):
    import io
    login(city.dispatcher)
    acc = "8800000001"
    bad = _csv(f"{acc},DTV-MOSAIC,Mosaic,22.505,114.005", f"{acc},NOPE,Bad category,,", "0000,DTV-MOSAIC,x,,",
               f"{acc},BB-SLOW,Slow,91,114")
    resp = client.post("/dispatch/orders/import", data={"file": (io.BytesIO(bad), "orders.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "line 3" in page and "line 4" in page and "line 5" in page and "line 2:" not in page
    assert _order_id(app) is None
    good = _csv(f"{acc},DTV-MOSAIC,Mosaic,22.505,114.005", f"{acc},BB-SLOW,Slow,22.505,114.015")
    resp = client.post("/dispatch/orders/import", data={"file": (io.BytesIO(good), "orders.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 302
    with app.app_context():
        orders = db.session.scalars(sa.select(RepairOrder).order_by(RepairOrder.id)).all()
        assert [(o.channel, o.station.code) for o in orders] == [("import", "S01"), ("import", "S02")]
