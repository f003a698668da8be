"""End to end: a repair order assigned by dispatch reaches the technician's phone as an encrypted push."""
from __future__ import annotations

import sys
from pathlib import Path

from core.auth import get_user
from core.extensions import db
from field import push

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pushservice.py, push_fixtures.py (no packages)
from push_fixtures import push_service, subscribe  # noqa: E402,F401  (fixtures)


def test_the_assigned_technician_gets_the_new_job_on_the_phone(app, make_station, make_user, make_customer,
                                                               push_service, subscribe):
    from dispatch.orders import services  # field may use dispatch's services (never the other way)

    station = make_station("S01", lon=114.0, lat=22.5)
    tech = make_user("technician", station=station, skills=["digital_tv", "cable_tv", "broadband"])
    dispatcher = make_user("dispatcher")
    customer = make_customer(lat=22.505, lon=114.005, phone="13800001234", address="8 Shennan Road")
    phone = push_service.subscribe()
    subscribe(tech, phone)
    with app.app_context():
        services.ensure_reference_data()
        services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        order = services.create_order({"customer_id": customer.id, "category": "DTV-MOSAIC",
                                       "description": "Picture breaks up", "channel": "hotline"},
                                      get_user(dispatcher.id))
        db.session.commit()  # the cause's transaction: order, event and alert together
        order_id, number, assigned_to = order.id, order.number, order.technician_id
        stats = push.deliver_due()

    assert assigned_to == tech.id
    assert stats.get("sent") == 1 and push_service.errors == []
    [msg] = push_service.received(phone)
    assert msg.payload["type"] == "order_assigned"
    assert msg.payload["order"] == order_id and msg.payload["url"] == f"/field/orders/{order_id}"
    assert number in msg.payload["title"]
    assert msg.headers["topic"] == f"order-{order_id}" and msg.headers["urgency"] == "high"
    text = str(msg.payload)
    assert "13800001234" not in text and "Customer" not in text  # nothing about the customer but the area


def test_a_chinese_technician_gets_the_new_job_in_chinese_from_an_english_request(
        app, make_station, make_user, make_customer, push_service, subscribe):
    """The alert speaks the recipient's language — title and category name — not the request's."""
    import sqlalchemy as sa

    from core.outbox import Notification
    from dispatch.orders import services

    station = make_station("S01", lon=114.0, lat=22.5)
    tech = make_user("technician", station=station, skills=["digital_tv", "cable_tv", "broadband"], locale="zh_CN")
    dispatcher = make_user("dispatcher", locale="en")
    customer = make_customer(lat=22.505, lon=114.005)
    phone = push_service.subscribe()
    subscribe(tech, phone)
    with app.test_request_context("/", headers={"Accept-Language": "en"}):
        services.ensure_reference_data()
        services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        order = services.create_order({"customer_id": customer.id, "category": "DTV-MOSAIC",
                                       "description": "Picture breaks up", "channel": "hotline"},
                                      get_user(dispatcher.id))
        db.session.commit()
        number = order.number
        note = db.session.scalar(sa.select(Notification).where(Notification.recipient_id == tech.id))
        title, body = note.title, note.body
    with app.app_context():  # delivery is a job's work, after the request
        stats = push.deliver_due()

    assert title == f"新工单 {number}", title
    assert "数字电视马赛克/画面卡顿" in body and "Mosaic" not in body, body
    assert stats.get("sent") == 1
    [msg] = push_service.received(phone)
    assert msg.payload["title"] == title and msg.payload["body"] == body
