"""Placement reasons and the services' timeline notes are stored as codes: each reader sees them in
their own language, and rows from before the codes still show their English text."""
from __future__ import annotations

import html as html_text
import re

from flask_babel import force_locale

from core.auth import get_user
from core.extensions import db
from dispatch.orders import services
from dispatch.orders.models import OrderEvent, RepairOrder


def _new(city):
    return services.create_order({"customer_id": city.customer.id, "category": "DTV-MOSAIC",
                                  "description": "Picture breaks up", "channel": "hotline"},
                                 get_user(city.dispatcher.id))


def _placement(page: str) -> str:
    return html_text.unescape(re.search(r'data-testid="placement-reason">([^<]*)<', page).group(1))


def test_a_reason_stored_as_code_shows_in_each_readers_language(app, city, make_user, login):
    with app.app_context():
        order = _new(city)
        assert (order.placement_code, order.placement_params) == ("placement.inside", {"code": "S01"})
        order_id = order.id
        db.session.commit()
    english_reader, chinese_reader = make_user("dispatcher", locale="en"), make_user("dispatcher", locale="zh_CN")
    pages = {}
    for reader in (english_reader, chinese_reader):
        with app.test_client() as c:
            login(reader, c=c)
            pages[reader.locale] = c.get(f"/dispatch/orders/{order_id}").get_data(as_text=True)
    assert _placement(pages["en"]) == "inside S01's area"
    assert _placement(pages["zh_CN"]) == "位于 S01 的服务区内"
    assert "inside S01&#39;s area → t" in pages["en"]  # the assignment note: the reason, then the technician
    assert "位于 S01 的服务区内 → t" in pages["zh_CN"] and "inside S01" not in pages["zh_CN"]


def test_a_move_by_hand_keeps_its_code_and_english_text(ctx, city):
    order = _new(city)
    services.assign(order, get_user(city.dispatcher.id), station_code="S02", reason="Customer asked for S02")
    assert order.placement_reason == "moved to S02 by hand"
    assert order.placement_code == "placement.by_hand"
    event = next(e for e in services.timeline(order) if e.type == "reassigned")
    with force_locale("zh_CN"):
        assert order.placement_text == "人工转至 S02"
        # a person's words are not translated; the services' part of the note is
        assert event.note_text.startswith("Customer asked for S02")
        told = next(e for e in services.timeline(order) if e.type == "notified")
        assert told.note_text == "已通知原维修员"
    assert told.note == "previous technician told"  # the English text beside the code


def test_a_reason_inside_a_note_is_rendered_too(ctx, city):
    order = _new(city)
    tech = get_user(order.technician_id)
    services.transition(order, "decline", tech, note="Van broke down")
    event = next(e for e in services.timeline(order) if e.type == "assigned" and e.data.get("reason") == "after a decline")
    assert event.data["msg_params"]["reason"] == {"msg": "placement.after_decline", "params": {},
                                                  "text": "after a decline"}
    with force_locale("zh_CN"):
        assert event.note_text.startswith("拒单后重新指派")
        declined = next(e for e in services.timeline(order) if e.type == "declined")
        assert declined.note_text == "Van broke down"  # typed by the technician: as typed
    assert event.note.startswith("after a decline")


def test_an_old_row_with_only_english_text_still_shows_it(app, city, make_user, login):
    with app.app_context():
        order = _new(city)
        order.placement_code, order.placement_params = None, None
        order.placement_reason = "nearest: S01, 1.2 km"
        db.session.add(OrderEvent(order_id=order.id, type="note", note="Written before codes existed", data={}))
        db.session.add(OrderEvent(order_id=order.id, type="note", note="A code no table knows",
                                  data={"msg": "gone.away", "msg_params": {}}))
        order_id = order.id
        db.session.commit()
    reader = make_user("dispatcher", locale="zh_CN")
    with app.test_client() as c:
        login(reader, c=c)
        html = c.get(f"/dispatch/orders/{order_id}").get_data(as_text=True)
    assert _placement(html) == "nearest: S01, 1.2 km"
    assert "Written before codes existed" in html and "A code no table knows" in html
    with app.app_context():
        assert db.session.get(RepairOrder, order_id).placement_text == "nearest: S01, 1.2 km"


def test_the_api_keeps_the_english_reason_and_adds_its_code(app, city, client, token_for):
    with app.app_context():
        order_id = _new(city).id
        db.session.commit()
    body = client.get(f"/api/v1/orders/{order_id}", headers={**token_for(city.dispatcher), "Accept-Language": "zh-CN"}).json
    assert body["placement_reason"] == "inside S01's area" and body["placement_code"] == "placement.inside"
