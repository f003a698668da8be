"""Alerts stored as a code are shown in the reader's language when read, and pushed in the
recipient's language as it is when they are sent."""
from __future__ import annotations

import sys
from pathlib import Path

from core import auth
from core.extensions import db

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pushservice.py, push_fixtures.py (no packages)
from push_fixtures import alert, deliver, push_service, subscribe  # noqa: E402,F401  (fixtures)


def _message(**params):
    from inventory.messages import stored
    return stored("alert.stock_low", **{"sku": "STB-HD200", "code": "S01-STORE", "qty": 2, "point": 6, "n": 8,
                                        **params})


def test_an_alert_stored_in_english_shows_in_chinese_after_the_switch(client, as_role, alert):
    user = as_role("stockkeeper", locale="en")
    alert(user, title="", body="", message=_message())
    before = client.get("/notifications").get_data(as_text=True)
    assert "Low stock: STB-HD200 at S01-STORE" in before and "2 left, reorder point 6; bring in 8." in before

    client.post("/language/zh_CN")
    after = client.get("/notifications").get_data(as_text=True)
    assert "库存不足：S01-STORE 的 STB-HD200" in after
    assert "Low stock" not in after and "reorder point" not in after


def test_the_stored_text_is_the_recipients_language_at_creation(app, make_user, alert):
    from core.outbox import Notification
    tech = make_user("stockkeeper", locale="zh_CN")
    note_id = alert(tech, title="", body="", message=_message())
    with app.app_context():
        note = db.session.get(Notification, note_id)
        assert note.message_code == "alert.stock_low" and note.params["sku"] == "STB-HD200"
        assert "STB-HD200" in note.title and "Low stock" not in note.title  # as before, for old readers


def test_an_old_alert_without_a_code_shows_its_stored_text(client, as_role, alert):
    user = as_role("technician", locale="en")
    alert(user, title="Stored before codes existed", body="Its body")
    client.post("/language/zh_CN")
    page = client.get("/notifications").get_data(as_text=True)
    assert "Stored before codes existed" in page and "Its body" in page


def test_push_goes_out_in_the_language_the_recipient_has_when_it_is_sent(app, make_user, push_service, subscribe,
                                                                       alert, deliver):
    tech = make_user("stockkeeper", locale="en")
    device = push_service.subscribe()
    subscribe(tech, device)
    alert(tech, title="", body="", message=_message())
    with app.app_context():
        auth.update_user(db.session.get(auth.User, tech.id), locale="zh_CN")  # switched before the worker ran
        db.session.commit()

    deliver()

    [msg] = push_service.received(device)
    assert "STB-HD200" in msg.payload["title"] and "Low stock" not in msg.payload["title"]
    assert "8" in msg.payload["body"] and "reorder" not in msg.payload["body"]
