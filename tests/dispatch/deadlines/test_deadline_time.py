"""Deadline arithmetic: pauses across local midnight, display in DST-free zones, the overdue filter."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.outbox import Notification
from dispatch.orders.models import RepairOrder
from dispatch.deadlines.services import sla
from dispatch.orders.services.reference import policy_for

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


# ---------------------------------------------------------------- one rule: a pause freezes the deadline state

def _walk_to_site(oid, act, city) -> None:
    for action in ("accept", "depart", "arrive"):
        act(oid, action, city.t1)


def _everywhere(client, headers, oid: int, number: str) -> dict[str, object]:
    """The order's deadline state as every page, queue, filter and feed shows it (the client is logged in)."""
    def ids(query: str) -> set[int]:
        return {i["id"] for i in client.get(f"/api/v1/orders?{query}", headers=headers).get_json()["items"]}
    (feature,) = client.get("/api/v1/orders.geojson", headers=headers).get_json()["features"]
    page = {q: number in client.get(f"/dispatch/?queue={q}").get_data(as_text=True) for q in ("overdue", "due_soon")}
    return {"own": client.get(f"/api/v1/orders/{oid}", headers=headers).get_json()["sla_state"],
            "feed": feature["properties"]["sla_state"],
            "overdue=true": oid in ids("overdue=true"), "overdue=false": oid in ids("overdue=false"),
            "queue=overdue": oid in ids("queue=overdue"), "queue=due_soon": oid in ids("queue=due_soon"),
            "page overdue": page["overdue"], "page due_soon": page["due_soon"]}


def test_an_order_paused_after_its_deadline_is_overdue_everywhere(app, clock, client, login, city, make_order, act,
                                                                   token_for):
    clock.set(REPORTED)
    oid = make_order()
    _walk_to_site(oid, act, city)
    clock.set(REPORTED + timedelta(hours=25))  # an hour past the deadline
    act(oid, "wait_customer", city.t1)
    clock.set(REPORTED + timedelta(hours=60))  # waiting on the customer for a day and a half
    login(city.disp)
    seen = _everywhere(client, token_for(city.disp), oid, number_of(app, oid))
    assert seen == {"own": "overdue", "feed": "overdue", "overdue=true": True, "overdue=false": False,
                    "queue=overdue": True, "queue=due_soon": False, "page overdue": True, "page due_soon": False}
    with app.app_context():
        from core.auth import get_user
        from dispatch.orders import services
        assert services.queue_counts(get_user(city.disp.id))["overdue"] == 1
        assert [row["overdue"] for row in services.station_board(get_user(city.disp.id))] == [1]
        # the state is frozen, the ladder is not climbing: no escalation while the clock is paused
        assert sla.escalate_overdue_orders()["level1"] == 0
        db.session.commit()
    clock.set(REPORTED + timedelta(hours=61))
    act(oid, "resume", city.t1)  # the deadline moves on by the pause (35 h): still an hour behind
    with app.app_context():
        assert db.session.get(RepairOrder, oid).sla_state() == "overdue"
        assert sla.escalate_overdue_orders()["level1"] == 1
        db.session.commit()


def test_an_order_paused_while_due_soon_stays_due_soon_everywhere(app, clock, client, login, city, make_order, act,
                                                                  token_for):
    clock.set(REPORTED)
    oid = make_order()
    _walk_to_site(oid, act, city)
    clock.set(REPORTED + timedelta(hours=21))  # inside the 4 h warning lead
    act(oid, "wait_customer", city.t1)
    clock.set(REPORTED + timedelta(hours=60))
    login(city.disp)
    seen = _everywhere(client, token_for(city.disp), oid, number_of(app, oid))
    assert seen == {"own": "due_soon", "feed": "due_soon", "overdue=true": False, "overdue=false": True,
                    "queue=overdue": False, "queue=due_soon": True, "page overdue": False, "page due_soon": True}


def test_board_and_map_order_by_the_time_left_on_the_clock(app, clock, client, login, city, make_order, act,
                                                           token_for):
    clock.set(REPORTED)
    paused = make_order()  # deadline REPORTED + 24 h, paused with 23 h left on its clock
    _walk_to_site(paused, act, city)
    clock.set(REPORTED + timedelta(hours=1))
    act(paused, "wait_customer", city.t1)
    clock.set(REPORTED + timedelta(hours=10))
    running = make_order(lat=22.506)  # deadline REPORTED + 34 h
    clock.set(REPORTED + timedelta(hours=20))  # running: 14 h left; paused: still 23 h (deadline now + 23 h)
    login(city.sup1)
    page = client.get("/dispatch/board").get_data(as_text=True)
    assert page.index(number_of(app, running)) < page.index(number_of(app, paused))
    features = client.get("/api/v1/orders.geojson", headers=token_for(city.disp)).get_json()["features"]
    assert [f["id"] for f in features] == [running, paused]


def number_of(app, order_id: int) -> str:
    with app.app_context():
        return db.session.get(RepairOrder, order_id).number
