"""Deadline warnings and escalations: on time, to the right people, exactly once per level."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.auth import get_user
from core.db import now
from core.extensions import db
from core.outbox import Notification
from dispatch.orders import services
from dispatch.orders.models import RepairOrder, SlaPolicy
from dispatch.deadlines.services import sla
from dispatch.deadlines.models import SlaAlert

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # 09:00 in Asia/Shanghai


def tick() -> dict:
    out = {"warn": sla.send_deadline_warnings(), "esc": sla.escalate_overdue_orders()}
    db.session.commit()
    return out


def recipients(order_id: int, kind: str) -> list[str]:
    rows = db.session.execute(sa.select(Notification.key, Notification.recipient_id).where(
        Notification.order_id == order_id, Notification.kind == kind)).all()
    return sorted(get_user(uid).username for _key, uid in rows)


def events(order_id: int, type_: str) -> list:
    return [e for e in services.timeline(services.get_order(order_id)) if e.type == type_]


def test_warning_goes_out_once_at_the_warning_lead(app, clock, city, make_order):
    clock.set(T0)
    oid = make_order()
    with app.app_context():
        order = db.session.get(RepairOrder, oid)
        assert order.technician_id == city.t1.id
        assert order.warn_at == T0 + timedelta(hours=20)
        clock.set(T0 + timedelta(hours=20) - timedelta(seconds=1))
        assert tick()["warn"] == {"warned": 0, "notifications": 0}
        clock.set(T0 + timedelta(hours=20))
        assert tick()["warn"] == {"warned": 1, "notifications": 2}
        assert recipients(oid, "deadline_warning") == ["disp", "t1"]  # the disabled dispatcher is left out
        assert len(events(oid, "deadline_warning")) == 1
        clock.advance(minutes=5)
        assert tick()["warn"]["warned"] == 0
        assert len(events(oid, "deadline_warning")) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SlaAlert)) == 1


def test_breach_escalates_to_station_supervisor_then_centre_managers(app, clock, city, make_order):
    clock.set(T0)
    oid = make_order()
    with app.app_context():
        clock.set(T0 + timedelta(hours=24) - timedelta(seconds=1))
        tick()
        assert db.session.get(RepairOrder, oid).escalation_level == 0
        clock.set(T0 + timedelta(hours=24))
        assert tick()["esc"] == {"level1": 1, "level2": 0, "notifications": 1}
        assert recipients(oid, "escalation") == ["sup1"]  # not S02's supervisor
        db.session.expire_all()
        assert db.session.get(RepairOrder, oid).escalation_level == 1
        clock.set(T0 + timedelta(hours=28) - timedelta(seconds=1))
        assert tick()["esc"]["level2"] == 0
        clock.set(T0 + timedelta(hours=28))
        assert tick()["esc"] == {"level1": 0, "level2": 1, "notifications": 2}
        assert recipients(oid, "escalation") == ["boss", "root", "sup1"]
        clock.advance(hours=10)
        assert tick()["esc"] == {"level1": 0, "level2": 0, "notifications": 0}
        escalated = events(oid, "escalated")
        assert [e.data["level"] for e in escalated] == [1, 2]
        db.session.expire_all()
        assert db.session.get(RepairOrder, oid).escalation_level == 2


def test_alerts_missed_while_no_scheduler_ran_go_out_at_the_next_tick(app, clock, city, make_order):
    clock.set(T0)
    oid = make_order()
    with app.app_context():
        clock.set(T0 + timedelta(hours=30))  # warning, level 1 and level 2 all fell due while down
        result = tick()
        assert result["esc"]["level1"] == 1 and result["esc"]["level2"] == 1
        # a warning after the deadline has passed is superseded by the escalation
        assert result["warn"]["warned"] == 0
        assert [e.data["level"] for e in events(oid, "escalated")] == [1, 2]
        assert tick()["esc"] == {"level1": 0, "level2": 0, "notifications": 0}


def test_station_without_supervisor_escalates_level1_to_centre_managers(app, clock, city, make_order):
    clock.set(T0)
    oid = make_order(customer=city.customer2)  # in S02
    with app.app_context():
        from core.auth import set_enabled
        set_enabled(get_user(city.sup2.id), False)
        db.session.commit()
        clock.set(T0 + timedelta(hours=24))
        tick()
        assert recipients(oid, "escalation") == ["boss", "root"]


def test_waiting_customer_pauses_the_clock_and_moves_the_deadline(app, clock, city, make_order, act):
    clock.set(T0)
    oid = make_order()
    for action in ("accept", "depart", "arrive"):
        act(oid, action, city.t1)
    clock.set(T0 + timedelta(hours=19))
    act(oid, "wait_customer", city.t1)
    with app.app_context():
        for hours in (20, 24, 28, 40):  # all would be due if the clock ran
            clock.set(T0 + timedelta(hours=hours))
            result = tick()
            assert result["warn"]["warned"] == 0 and result["esc"]["level1"] == 0
    clock.set(T0 + timedelta(hours=41))
    act(oid, "resume", city.t1)  # paused 22 h → deadline T0 + 46 h, warning at T0 + 42 h
    with app.app_context():
        order = db.session.get(RepairOrder, oid)
        assert order.deadline_at == T0 + timedelta(hours=46)
        assert tick()["warn"]["warned"] == 0
        clock.set(T0 + timedelta(hours=42))
        assert tick()["warn"]["warned"] == 1
        clock.set(T0 + timedelta(hours=46) - timedelta(seconds=1))
        assert tick()["esc"]["level1"] == 0
        clock.set(T0 + timedelta(hours=46))
        assert tick()["esc"]["level1"] == 1


@pytest.mark.parametrize("pauses", [False, True])
def test_waiting_parts_pauses_only_when_the_policy_says_so(app, clock, city, make_order, act, pauses):
    with app.app_context():
        policy = db.session.scalar(sa.select(SlaPolicy).where(SlaPolicy.kind == "fault"))
        policy.wait_parts_pauses = pauses
        db.session.commit()
    clock.set(T0)
    oid = make_order()
    for action in ("accept", "depart", "arrive", "wait_parts"):
        act(oid, action, city.t1)
    with app.app_context():
        clock.set(T0 + timedelta(hours=25))
        assert tick()["esc"]["level1"] == (0 if pauses else 1)


def test_finished_orders_are_not_escalated(app, clock, city, make_order, act):
    clock.set(T0)
    oid = make_order()
    for action in ("accept", "depart", "arrive"):
        act(oid, action, city.t1)
    act(oid, "resolve", city.t1, resolution_code="replaced_cable")
    with app.app_context():
        clock.set(T0 + timedelta(hours=30))
        assert tick()["esc"]["level1"] == 0


def test_a_reopened_order_runs_its_ladder_again(app, clock, city, make_order, act):
    clock.set(T0)
    oid = make_order()
    with app.app_context():
        clock.set(T0 + timedelta(hours=29))
        tick()
    for action in ("accept", "depart", "arrive"):
        act(oid, action, city.t1)
    act(oid, "resolve", city.t1, resolution_code="fixed")
    clock.set(T0 + timedelta(hours=30))
    act(oid, "reopen", city.disp)
    with app.app_context():
        assert db.session.get(RepairOrder, oid).escalation_level == 0
        clock.set(T0 + timedelta(hours=30 + 20))
        assert tick()["warn"]["warned"] == 1
        clock.set(T0 + timedelta(hours=30 + 24))
        assert tick()["esc"]["level1"] == 1
        alerts = db.session.execute(sa.select(SlaAlert.kind, SlaAlert.level, SlaAlert.cycle)
                                    .order_by(SlaAlert.id)).all()
        assert [tuple(a) for a in alerts] == [("escalation", 1, 0), ("escalation", 2, 0), ("warning", 0, 1),
                                              ("escalation", 1, 1)]


def test_the_database_refuses_a_second_alert_for_the_same_level(app, clock, city, make_order):
    clock.set(T0)
    oid = make_order()
    with app.app_context():
        for _ in range(2):
            db.session.add(SlaAlert(order_id=oid, kind="escalation", level=1, cycle=0, due_at=now()))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
        db.session.rollback()
        db.session.add(SlaAlert(order_id=oid, kind="warning", level=1, cycle=0, due_at=now()))
        with pytest.raises(sa.exc.IntegrityError):  # a warning has no level
            db.session.flush()
        db.session.rollback()


def test_a_concurrent_change_of_the_order_skips_it_until_the_next_tick(app, clock, city, make_order):
    clock.set(T0)
    oid = make_order()
    clock.set(T0 + timedelta(hours=24))
    with app.app_context():
        order = db.session.get(RepairOrder, oid)
        # someone else's change moves the row's version behind the loaded object's back (a plain
        # table UPDATE leaves the session's copy as it was, as another transaction's commit would)
        db.session.execute(sa.update(RepairOrder.__table__).where(RepairOrder.__table__.c.id == oid)
                           .values(version=RepairOrder.__table__.c.version + 1))
        assert order.escalation_level == 0 and order.version == 1
        assert sla.escalate_overdue_orders()["level1"] == 0
        db.session.commit()
        assert sla.escalate_overdue_orders()["level1"] == 1
        db.session.commit()


def test_flask_sla_tick_prints_what_each_job_did(app, clock, city, make_order, runner):
    clock.set(T0)
    make_order()
    clock.set(T0 + timedelta(hours=24))
    result = runner.invoke(args=["sla", "tick"])
    assert result.exit_code == 0, result.output
    assert "escalations: 1 level1, 0 level2, 1 notifications" in result.output
    assert "deadline_warnings: 0 warned, 0 notifications" in result.output
    again = runner.invoke(args=["sla", "tick"])
    assert "escalations: 0 level1, 0 level2, 0 notifications" in again.output


def test_each_reopened_order_counts_its_own_cycles(app, clock, city, make_order, act):
    clock.set(T0)
    first, second = make_order(), make_order()
    for oid in (first, second):
        for action in ("accept", "depart", "arrive"):
            act(oid, action, city.t1)
        act(oid, "resolve", city.t1, resolution_code="fixed")
        act(oid, "reopen", city.disp)
    for action in ("accept", "depart", "arrive"):
        act(first, action, city.t1)
    act(first, "resolve", city.t1, resolution_code="fixed")
    act(first, "reopen", city.disp)  # first reopened twice, second once
    with app.app_context():
        cycles = dict(db.session.execute(sa.select(RepairOrder.id, sla.cycle_expr())).all())
        assert cycles == {first: 2, second: 1}
        clock.set(T0 + timedelta(hours=24))
        assert tick()["esc"]["level1"] == 2
        got = dict(db.session.execute(sa.select(SlaAlert.order_id, SlaAlert.cycle)).all())
        assert got == {first: 2, second: 1}


def test_alerts_speak_each_recipients_language_not_the_jobs(app, clock, city, make_order):
    """An English supervisor gets an English escalation and a Chinese technician a Chinese warning,
    whatever language the job runs in."""
    from flask_babel import force_locale

    from core.auth import update_user

    with app.app_context():
        update_user(get_user(city.sup1.id), locale="en")
        update_user(get_user(city.t1.id), locale="zh_CN")
        db.session.commit()
    clock.set(T0)
    oid = make_order()
    with app.test_request_context("/", headers={"Accept-Language": "zh-CN"}), force_locale("zh_CN"):
        number = db.session.get(RepairOrder, oid).number
        clock.set(T0 + timedelta(hours=20))
        tick()
        clock.set(T0 + timedelta(hours=24))
        tick()
        notes = {(n.kind, n.recipient_id): n for n in db.session.scalars(
            sa.select(Notification).where(Notification.order_id == oid))}
        escalation = notes[("escalation", city.sup1.id)]
        warning = notes[("deadline_warning", city.t1.id)]
        assert escalation.title == f"Overdue (level 1): {number}"
        assert escalation.body.startswith("Deadline was ")
        assert warning.title == f"即将到期：{number}" and warning.body.startswith("请在 ")
