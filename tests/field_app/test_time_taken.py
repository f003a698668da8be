"""Every action keeps the time it was tapped: the step's time, the event and the SLA clock follow it, the event
also says when it was recorded, and a time in the future, too old, or before the previous step is refused."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.extensions import db
from dispatch.orders import services
from dispatch.orders.models import OrderEvent

START = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # the clock fixture's start: the job is assigned then


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _item(order_id, key, action, at, **extra):
    return {"key": key, "order_id": order_id, "action": action, "note": "", "at": _iso(at), **extra}


def _sync(client, *items):
    resp = client.post("/field/sync", json={"items": list(items)})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.json["results"]


def _event(app, order_id, type_):
    with app.app_context():
        event = db.session.scalar(sa.select(OrderEvent).where(OrderEvent.order_id == order_id,
                                                              OrderEvent.type == type_))
        return event.at, event.recorded_at


def test_an_action_sent_later_is_recorded_at_the_time_it_was_tapped(app, clock, shop, client, login):
    login(shop.tech)
    tapped = START + timedelta(minutes=7, seconds=39)
    clock.set(START + timedelta(minutes=8, seconds=56))  # the phone was offline until now
    results = _sync(client, _item(shop.order_id, "a", "accept", tapped))
    assert results[0]["outcome"] == "applied"
    assert _event(app, shop.order_id, "accepted") == (tapped, START + timedelta(minutes=8, seconds=56))
    with app.app_context():
        assert services.get_order(shop.order_id).accepted_at == tapped
    # the dispatcher's order page and the job page show both times (Asia/Shanghai: UTC+8)
    login(shop.disp)
    page = client.get(f"/dispatch/orders/{shop.order_id}").get_data(as_text=True)
    assert "taken 09:07:39 · recorded 09:08:56" in page
    login(shop.tech)
    page = client.get(f"/field/jobs/{shop.order_id}").get_data(as_text=True)
    assert page.count('data-testid="recorded-later"') == 1 and "taken 09:07:39 · recorded 09:08:56" in page


def test_an_action_taken_online_shows_one_time(app, clock, shop, client, login):
    login(shop.tech)
    clock.advance(minutes=5)
    assert _sync(client, _item(shop.order_id, "a", "accept", START + timedelta(minutes=5)))[0]["outcome"] == "applied"
    assert _event(app, shop.order_id, "accepted") == (START + timedelta(minutes=5),) * 2
    assert 'data-testid="recorded-later"' not in client.get(f"/field/jobs/{shop.order_id}").get_data(as_text=True)


def test_the_sla_clock_and_resolve_time_go_by_the_time_taken(app, clock, shop, client, login, van_stock):
    van_stock(shop.tech)
    login(shop.tech)
    t = START + timedelta(minutes=10)
    steps = [_item(shop.order_id, "1", "accept", t), _item(shop.order_id, "2", "depart", t + timedelta(minutes=1)),
             _item(shop.order_id, "3", "arrive", t + timedelta(minutes=30)),
             _item(shop.order_id, "4", "wait_customer", t + timedelta(minutes=31)),
             _item(shop.order_id, "5", "resume", t + timedelta(minutes=51)),  # the customer kept him 20 min
             _item(shop.order_id, "6", "resolve", t + timedelta(minutes=60), resolution_code="FIXED")]
    with app.app_context():
        deadline = services.get_order(shop.order_id).deadline_at
    clock.set(t + timedelta(hours=5))  # all sent hours later, at once
    assert [r["outcome"] for r in _sync(client, *steps)] == ["applied"] * 6
    with app.app_context():
        order = services.get_order(shop.order_id)
        assert order.paused_seconds == 20 * 60  # not the seconds between two requests of one batch
        assert order.deadline_at == deadline + timedelta(minutes=20)
        assert order.arrived_at == t + timedelta(minutes=30)
        assert order.resolved_at == t + timedelta(minutes=60)


def test_resolved_offline_before_the_deadline_and_sent_after_it_is_on_time(app, clock, shop, client, login):
    login(shop.tech)
    with app.app_context():
        deadline = services.get_order(shop.order_id).deadline_at
    before = deadline - timedelta(minutes=3)
    steps = [_item(shop.order_id, "1", "accept", before - timedelta(minutes=40)),
             _item(shop.order_id, "2", "depart", before - timedelta(minutes=30)),
             _item(shop.order_id, "3", "arrive", before - timedelta(minutes=10)),
             _item(shop.order_id, "4", "resolve", before, resolution_code="FIXED")]
    clock.set(deadline + timedelta(minutes=20))
    login(shop.tech)  # a new session: the first one has expired
    assert [r["outcome"] for r in _sync(client, *steps)] == ["applied"] * 4
    with app.app_context():
        order = services.get_order(shop.order_id)
        assert order.resolved_at == before and order.sla_state() == "ok"


@pytest.mark.parametrize("offset, code, words", [
    (timedelta(minutes=3), "taken_in_future", "in the future"),
    (-timedelta(hours=24, minutes=1), "taken_too_old", "more than 24 hours ago"),
])
def test_a_time_in_the_future_or_too_old_is_refused_in_words(app, clock, shop, client, login, offset, code, words):
    clock.set(START + timedelta(days=1, hours=2))
    login(shop.tech)
    result = _sync(client, _item(shop.order_id, "x", "accept", clock.current + offset))[0]
    assert (result["outcome"], result["status"], result["code"]) == ("invalid", 422, code)
    assert words in result["message"] and "at" in result["fields"]
    with app.app_context():
        assert services.get_order(shop.order_id).status == "assigned"


def test_a_time_before_the_previous_step_is_refused(app, clock, shop, client, login):
    login(shop.tech)
    clock.advance(minutes=30)
    assert _sync(client, _item(shop.order_id, "a", "accept", START + timedelta(minutes=20)))[0]["outcome"] == "applied"
    result = _sync(client, _item(shop.order_id, "b", "depart", START + timedelta(minutes=10)))[0]
    assert (result["status"], result["code"]) == (422, "taken_before_previous")
    assert "before the job's previous step (Accepted at 2026-03-02 09:20:00)" in result["message"]
    with app.app_context():
        assert services.get_order(shop.order_id).status == "accepted"


def test_a_phone_clock_within_the_skew_is_taken_as_now_or_the_previous_step(app, clock, shop, client, login):
    login(shop.tech)
    clock.advance(minutes=10)
    # 90 s ahead of the server: within the 2 minutes allowed, recorded as now (never in the future)
    assert _sync(client, _item(shop.order_id, "a", "accept", clock.current + timedelta(seconds=90)))[0][
        "outcome"] == "applied"
    assert _event(app, shop.order_id, "accepted")[0] == clock.current
    # a minute behind the previous step: that clock's error, recorded at the previous step's time
    assert _sync(client, _item(shop.order_id, "b", "depart", clock.current - timedelta(minutes=1)))[0][
        "outcome"] == "applied"
    assert _event(app, shop.order_id, "departed")[0] == clock.current


def test_the_allowed_skew_is_a_setting(app, clock, shop, client, login):
    app.config["FIELD_CLOCK_SKEW_SECONDS"] = 10
    try:
        login(shop.tech)
        clock.advance(minutes=10)
        result = _sync(client, _item(shop.order_id, "a", "accept", clock.current + timedelta(seconds=30)))[0]
        assert result["code"] == "taken_in_future"
    finally:
        del app.config["FIELD_CLOCK_SKEW_SECONDS"]


def test_an_unreadable_time_is_refused(app, clock, shop, client, login):
    login(shop.tech)
    item = {"key": "k", "order_id": shop.order_id, "action": "accept", "at": "yesterday"}
    result = _sync(client, item)[0]
    assert (result["status"], result["code"]) == (422, "taken_at_invalid")


def test_the_job_page_and_resolve_form_send_the_time_tapped(app, clock, shop, client, login, van_stock):
    van_stock(shop.tech)
    login(shop.tech)
    clock.advance(minutes=20)
    tapped = START + timedelta(minutes=15)
    resp = client.post(f"/field/jobs/{shop.order_id}/act", data={"action": "accept", "taken_at": _iso(tapped)})
    assert resp.status_code == 302
    assert _event(app, shop.order_id, "accepted") == (tapped, clock.current)
    for action in ("depart", "arrive"):
        client.post(f"/field/jobs/{shop.order_id}/act", data={"action": action})
    clock.advance(minutes=5)
    resp = client.post(f"/field/jobs/{shop.order_id}/resolve",
                       data={"resolution_code": "FIXED", "taken_at": _iso(clock.current + timedelta(hours=1))})
    assert resp.status_code == 422 and "in the future" in resp.get_data(as_text=True)
    resp = client.post(f"/field/jobs/{shop.order_id}/resolve",
                       data={"resolution_code": "FIXED", "taken_at": _iso(clock.current - timedelta(minutes=2))})
    assert resp.status_code == 302
    assert _event(app, shop.order_id, "resolved") == (clock.current - timedelta(minutes=2), clock.current)
