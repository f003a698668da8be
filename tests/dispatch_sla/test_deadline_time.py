"""Deadline arithmetic: pauses across local midnight, display in DST-free zones, the overdue filter."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.outbox import Notification
from dispatch.models import RepairOrder
from dispatch.services import sla
from dispatch.services.reference import policy_for

REPORTED = datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc)  # 22:00 in Shanghai
PAUSED = datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc)  # 23:30
RESUMED = datetime(2026, 3, 2, 17, 15, tzinfo=timezone.utc)  # 01:15 the next day
DEADLINE = REPORTED + timedelta(hours=24, minutes=105)  # 2026-03-03 15:45 UTC


@pytest.fixture
def paused_over_midnight(app, clock, city, make_order, act):
    clock.set(REPORTED)
    oid = make_order()
    for action in ("accept", "depart", "arrive"):
        act(oid, action, city.t1)
    clock.set(PAUSED)
    act(oid, "wait_customer", city.t1)
    clock.set(RESUMED)
    act(oid, "resume", city.t1)
    return oid


def bodies(kind: str) -> list[str]:
    return list(db.session.scalars(sa.select(Notification.body).where(Notification.kind == kind)))


@pytest.mark.parametrize("zone, local_deadline", [
    ("Asia/Shanghai", "2026-03-03 23:45"),
    ("Etc/GMT-8", "2026-03-03 23:45"),  # plain UTC+8, no DST rules at all
    ("Asia/Kolkata", "2026-03-03 21:15"),  # UTC+5:30, no DST
])
def test_a_pause_across_midnight_moves_the_whole_ladder(app, clock, paused_over_midnight, zone, local_deadline):
    old = app.config["TIMEZONE"]
    app.config["TIMEZONE"] = zone
    try:
        with app.app_context():
            order = db.session.get(RepairOrder, paused_over_midnight)
            assert order.paused_seconds == 105 * 60
            assert order.deadline_at == DEADLINE
            assert order.warn_at == DEADLINE - timedelta(hours=4)
            clock.set(DEADLINE - timedelta(hours=4, seconds=1))
            assert sla.send_deadline_warnings()["warned"] == 0
            clock.set(DEADLINE - timedelta(hours=4))
            assert sla.send_deadline_warnings()["warned"] == 1
            assert all(local_deadline in b for b in bodies("deadline_warning"))
            clock.set(DEADLINE - timedelta(seconds=1))
            assert sla.escalate_overdue_orders()["level1"] == 0
            clock.set(DEADLINE)
            assert sla.escalate_overdue_orders()["level1"] == 1
            assert all(local_deadline in b for b in bodies("escalation"))
            db.session.commit()
    finally:
        app.config["TIMEZONE"] = old


def test_a_paused_order_has_no_due_levels_and_its_deadline_runs_on(app, clock, city, make_order, act):
    clock.set(REPORTED)
    oid = make_order()
    for action in ("accept", "depart", "arrive", "wait_customer"):
        act(oid, action, city.t1)
    with app.app_context():
        order = db.session.get(RepairOrder, oid)
        policy = policy_for(order.kind, order.customer.segment)
        at = REPORTED + timedelta(hours=40)
        assert sla.due_levels(order, policy, at) == []
        assert order.effective_deadline(at) == REPORTED + timedelta(hours=64)
        order.paused_at = None  # as if running: both levels are due
        assert sla.due_levels(order, policy, at) == [1, 2]
        db.session.rollback()


def test_api_lists_breached_orders_with_overdue_true(app, clock, client, city, make_order, act, token_for):
    clock.set(REPORTED)
    breached = make_order()
    paused = make_order()
    for action in ("accept", "depart", "arrive", "wait_customer"):
        act(paused, action, city.t1)
    clock.set(REPORTED + timedelta(hours=20))
    fresh = make_order()
    clock.set(REPORTED + timedelta(hours=25))
    with app.app_context():
        sla.escalate_overdue_orders()
        db.session.commit()
    headers = token_for(city.disp)
    items = client.get("/api/v1/orders?overdue=true", headers=headers).get_json()["items"]
    assert [i["id"] for i in items] == [breached]
    assert items[0]["escalation_level"] == 1
    events = client.get(f"/api/v1/orders/{breached}", headers=headers).get_json()["events"]
    assert [e["level"] for e in events if e["type"] == "escalated"] == [1]
    others = {i["id"] for i in client.get("/api/v1/orders?overdue=false", headers=headers).get_json()["items"]}
    assert others == {paused, fresh}
