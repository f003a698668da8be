"""The service worker route, the push button, and the notification inbox with its bell."""
from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa

from core import outbox
from core.extensions import db

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pushservice.py, push_fixtures.py (no packages)
from push_fixtures import alert  # noqa: E402,F401  (fixtures)


def test_service_worker_is_served_for_the_field_scope(client):
    resp = client.get("/field/sw.js")
    assert resp.status_code == 200
    assert resp.mimetype == "text/javascript"
    assert resp.headers["Service-Worker-Allowed"] == "/field/"
    assert "no-cache" in resp.headers["Cache-Control"]
    js = resp.get_data(as_text=True)
    assert 'addEventListener("push"' in js and "showNotification" in js and "notificationclick" in js
    assert "/static/field/icon-192.png" in js and "/static/field/badge-72.png" in js
    icon = client.get("/static/field/icon-192.png")
    icon.close()
    assert icon.status_code == 200


def test_landing_page_has_the_push_button(client, as_role):
    as_role("technician")
    page = client.get("/field/").get_data(as_text=True)
    assert 'data-testid="landing"' in page
    assert 'data-testid="push-toggle"' in page
    assert "/static/field/push.js" in page and 'data-sw-url="/field/sw.js"' in page
    assert 'data-key-url="/field/push/vapid-public-key"' in page


def test_bell_shows_the_unread_count_for_every_role(client, as_role, alert):
    user = as_role("stockkeeper")
    alert(user, title="Low stock: STB-100")
    alert(user, title="Loaner overdue")
    page = client.get("/notifications").get_data(as_text=True)
    assert 'data-testid="bell"' in page
    assert 'data-testid="unread-badge">2<' in page


def test_inbox_lists_only_my_alerts_newest_first(client, as_role, make_user, alert, clock):
    me, other = as_role("dispatcher"), make_user("dispatcher")
    alert(me, title="First alert")
    clock.advance(minutes=1)
    alert(me, title="Second alert")
    alert(other, title="Someone else's alert")
    page = client.get("/notifications").get_data(as_text=True)
    assert page.index("Second alert") < page.index("First alert")
    assert "Someone else" not in page
    assert page.count('data-testid="notification"') == 2


def test_inbox_is_in_my_language(client, as_role, alert):
    from flask_babel import lazy_gettext as _l
    user = as_role("technician", locale="zh_CN")
    alert(user, title=_l("My jobs"))
    client.post("/language/zh_CN")
    page = client.get("/notifications").get_data(as_text=True)
    assert "我的工单" in page and "提醒" in page


def test_mark_one_then_all_read(app, client, as_role, make_user, alert):
    me, other = as_role("supervisor"), make_user("supervisor")
    one, two = alert(me), alert(me)
    theirs = alert(other)

    resp = client.post("/notifications", data={"id": [str(one), str(theirs)]})
    assert resp.status_code == 302
    with app.app_context():
        assert outbox.unread_count(me.id) == 1 and outbox.unread_count(other.id) == 1
        assert db.session.get(outbox.Notification, one).read_at is not None
        assert db.session.get(outbox.Notification, two).read_at is None

    client.post("/notifications", data={})
    with app.app_context():
        assert outbox.unread_count(me.id) == 0 and outbox.unread_count(other.id) == 1
    page = client.get("/notifications").get_data(as_text=True)
    assert 'data-testid="unread-badge"' not in page


def test_inbox_needs_a_login(client):
    resp = client.get("/notifications")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_reading_alerts_does_not_touch_their_push_state(app, client, as_role, alert):
    me = as_role("technician")
    note_id = alert(me)
    client.post("/notifications", data={})
    with app.app_context():
        assert db.session.scalar(sa.select(outbox.Notification.push_status)
                                 .where(outbox.Notification.id == note_id)) == "pending"


def test_a_technician_reads_alerts_inside_the_app_and_staff_in_the_staff_pages(client, as_role, alert):
    tech = as_role("technician")
    alert(tech, title="New job RO-1")
    page = client.get("/notifications").get_data(as_text=True)
    assert 'data-testid="notification"' in page and "New job RO-1" in page
    assert 'data-testid="tabbar"' in page and 'data-testid="field-app"' in page  # bottom bar, offline banner
    client.post("/logout")
    keeper = as_role("stockkeeper")
    alert(keeper, title="Low stock")
    staff = client.get("/notifications").get_data(as_text=True)
    assert "Low stock" in staff and 'data-testid="tabbar"' not in staff and 'data-testid="field-app"' not in staff
