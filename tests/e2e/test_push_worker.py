"""The service worker in a real Chromium: registered for /field/, it shows a pushed alert."""
from __future__ import annotations

import json
import time

import pytest

from e2e.conftest import log_in

pytestmark = pytest.mark.e2e


def _registration_id(cdp, scope: str, timeout: float = 20.0) -> str:
    found: dict[str, str] = {}

    def seen(event):
        for reg in event["registrations"]:
            if reg["scopeURL"] == scope and not reg.get("isDeleted"):
                found["id"] = reg["registrationId"]
    cdp.on("ServiceWorker.workerRegistrationUpdated", seen)
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + timeout
    while "id" not in found and time.monotonic() < deadline:
        cdp.send("Runtime.evaluate", {"expression": "1"})  # lets events arrive
        time.sleep(0.1)
    return found["id"]


def test_pushed_alert_is_shown_with_its_tag_and_link(new_page, base_url, make_user):
    tech = make_user("technician")
    page, watch = new_page(mobile=True)
    page.context.grant_permissions(["notifications"], origin=base_url)
    log_in(page, base_url, tech.username)
    assert page.get_by_test_id("push-toggle").is_visible()
    scope = page.evaluate("""() => navigator.serviceWorker.register('/field/sw.js', {scope: '/field/'})
        .then(() => navigator.serviceWorker.ready).then(r => r.scope)""")
    assert scope == f"{base_url}/field/"

    cdp = page.context.new_cdp_session(page)
    payload = {"type": "assigned", "title": "Order R7 assigned to you", "body": "Futian, fault: no signal",
               "url": "/field/orders/7", "order": 7, "tag": "order-7"}
    cdp.send("ServiceWorker.deliverPushMessage", {"origin": base_url, "registrationId": _registration_id(cdp, scope),
                                                  "data": json.dumps(payload)})
    shown = []
    for _ in range(200):
        shown = page.evaluate("""() => navigator.serviceWorker.getRegistration('/field/')
            .then(r => r.getNotifications())
            .then(ns => ns.map(n => [n.title, n.body, n.tag, n.data.url, n.icon, n.badge]))""")
        if shown:
            break
        time.sleep(0.1)
    assert shown == [["Order R7 assigned to you", "Futian, fault: no signal", "order-7", "/field/orders/7",
                      f"{base_url}/static/field/icon-192.png", f"{base_url}/static/field/badge-72.png"]]
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside


def test_bell_and_inbox_mark_read(new_page, base_url, make_user, app):
    from core import auth, outbox
    from core.extensions import db
    boss = make_user("supervisor")
    with app.app_context():
        outbox.enqueue("escalated", db.session.get(auth.User, boss.id), cause="e2e:escalation:1",
                       title="Escalation: order R12 is overdue", body="Futian north", url="/notifications",
                       urgency="high")
        db.session.commit()
    page, watch = new_page(mobile=True)
    log_in(page, base_url, boss.username)
    assert page.get_by_test_id("unread-badge").inner_text() == "1"
    page.get_by_test_id("bell").click()
    page.wait_for_url(f"{base_url}/notifications")
    assert page.get_by_test_id("notification").inner_text().startswith("Escalation: order R12 is overdue")
    page.get_by_test_id("mark-all-read").click()
    page.wait_for_load_state("load")
    assert page.get_by_test_id("unread-badge").count() == 0
    assert page.get_by_test_id("push-toggle").is_visible()
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside
