"""The supervisor board, acknowledgements and the incident pages, in both languages."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from core.audit import AuditEvent
from core.extensions import db
from dispatch.orders.models import RepairOrder
from dispatch.deadlines.services import incidents, sla
from dispatch.deadlines.models import Incident, IncidentSettings, SlaAlert

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)


def number(app, order_id: int) -> str:
    with app.app_context():
        return db.session.get(RepairOrder, order_id).number


def escalate(app, clock, hours: float = 24) -> None:
    clock.set(T0 + timedelta(hours=hours))
    with app.app_context():
        sla.escalate_overdue_orders()
        db.session.commit()


def test_station_supervisor_sees_only_their_station(app, clock, client, login, city, make_order):
    clock.set(T0)
    mine, other = make_order(), make_order(customer=city.customer2)
    login(city.sup1)
    page = client.get("/dispatch/board?station=S02").get_data(as_text=True)  # the filter is ignored
    assert number(app, mine) in page and number(app, other) not in page
    assert 'data-testid="board-station-filter"' not in page


def test_centre_manager_and_dispatcher_choose_a_station(app, clock, client, login, city, make_order):
    clock.set(T0)
    mine, other = make_order(), make_order(customer=city.customer2)
    for user in (city.boss, city.disp):
        login(user)
        page = client.get("/dispatch/board").get_data(as_text=True)
        assert number(app, mine) in page and number(app, other) in page
        page = client.get("/dispatch/board?station=S02").get_data(as_text=True)
        assert number(app, mine) not in page and number(app, other) in page
        client.post("/logout")


def test_board_lists_orders_by_deadline(app, clock, client, login, city, make_order):
    clock.set(T0)
    later = make_order(category="INST-DTV")  # 72 h
    sooner = make_order()  # 24 h
    login(city.sup1)
    page = client.get("/dispatch/board").get_data(as_text=True)
    assert page.index(number(app, sooner)) < page.index(number(app, later))


def test_acknowledging_an_escalation_is_recorded_and_audited(app, clock, client, login, city, make_order):
    clock.set(T0)
    oid = make_order()
    escalate(app, clock)
    with app.app_context():
        alert_id = db.session.scalar(sa.select(SlaAlert.id).where(SlaAlert.level == 1))
    login(city.sup2)  # another station's escalation is answered as missing
    assert client.post(f"/dispatch/board/escalations/{alert_id}/acknowledge").status_code == 404
    client.post("/logout")
    login(city.sup1)
    page = client.get("/dispatch/board").get_data(as_text=True)
    assert 'data-testid="escalation-row"' in page and 'data-testid="ack-button"' in page
    resp = client.post(f"/dispatch/board/escalations/{alert_id}/acknowledge", data={"note": "on it"})
    assert resp.status_code == 302
    with app.app_context():
        alert = db.session.get(SlaAlert, alert_id)
        assert alert.acknowledged_by_id == city.sup1.id and alert.acknowledged_at == T0 + timedelta(hours=24)
        assert alert.ack_note == "on it"
        audit = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "sla.acknowledge"))
        assert audit.actor_id == city.sup1.id and audit.object_id == str(alert_id)
    assert 'data-testid="escalation-row"' not in client.get("/dispatch/board").get_data(as_text=True)
    assert client.post(f"/dispatch/board/escalations/{alert_id}/acknowledge").status_code == 409
    assert oid


def test_station_supervisor_cannot_acknowledge_level_two(app, clock, client, login, city, make_order):
    clock.set(T0)
    make_order()
    escalate(app, clock, hours=28)
    with app.app_context():
        level2 = db.session.scalar(sa.select(SlaAlert.id).where(SlaAlert.level == 2))
    login(city.sup1)
    assert client.post(f"/dispatch/board/escalations/{level2}/acknowledge").status_code == 403
    client.post("/logout")
    login(city.boss)
    assert client.post(f"/dispatch/board/escalations/{level2}/acknowledge").status_code == 302


def test_board_in_chinese_shows_times_in_the_operators_zone(app, clock, client, login, city, make_order):
    clock.set(datetime(2026, 3, 2, 14, 0, tzinfo=timezone.utc))  # 22:00 in Shanghai
    make_order()
    login(city.sup1)
    client.post("/language/zh_CN")
    page = client.get("/dispatch/board").get_data(as_text=True)
    assert "待确认的升级" in page and "按期限排列的未完成工单" in page
    assert "2026-03-03 22:00" in page  # deadline 24 h later, local time, across midnight UTC


def _incident(app, clock, make_order) -> tuple[int, list[int]]:
    ids = []
    for i in range(5):
        clock.set(T0 + timedelta(minutes=i))
        ids.append(make_order(lat=22.503 + i * 0.0001, lon=114.004))
    with app.app_context():
        incidents.detect_incidents()
        db.session.commit()
        return db.session.scalar(sa.select(Incident.id)), ids


def test_incident_page_shows_customers_on_a_map_and_resolves(app, clock, client, login, city, make_order, act):
    inc_id, ids = _incident(app, clock, make_order)
    for action in ("accept", "depart", "arrive"):
        act(ids[0], action, city.t1)
    login(city.disp)
    page = client.get(f"/dispatch/incidents/{inc_id}").get_data(as_text=True)
    assert 'data-testid="incident-map"' in page and "leaflet" in page.lower()
    assert "https://cdn" not in page and "unpkg.com" not in page
    assert page.count(city.customer.name) >= 5 and number(app, ids[4]) in page
    assert f"/dispatch/incidents/{inc_id}" in client.get("/dispatch/board").get_data(as_text=True)
    resp = client.post(f"/dispatch/incidents/{inc_id}/resolve", data={"note": ""})
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(Incident, inc_id).status == "resolved"
        assert db.session.get(RepairOrder, ids[0]).status == "resolved"
    assert client.post(f"/dispatch/incidents/{inc_id}/resolve").status_code == 409
    assert "data-testid=\"resolve-incident\"" not in client.get(f"/dispatch/incidents/{inc_id}").get_data(as_text=True)


def test_incident_list_and_threshold_form(app, clock, client, login, city, make_order):
    _incident(app, clock, make_order)
    login(city.admin)
    assert "Incident #" in client.get("/dispatch/incidents").get_data(as_text=True)
    assert client.get("/dispatch/incidents/settings").status_code == 200
    bad = client.post("/dispatch/incidents/settings", data={"min_orders": "1", "radius_m": "500",
                                                            "window_minutes": "60"})
    assert bad.status_code == 422 and 'data-testid="form-error"' in bad.get_data(as_text=True)
    ok = client.post("/dispatch/incidents/settings", data={"min_orders": "7", "radius_m": "800",
                                                           "window_minutes": "30"})
    assert ok.status_code == 302
    with app.app_context():
        row = db.session.get(IncidentSettings, 1)
        assert (row.min_orders, row.radius_m, row.window_minutes, row.updated_by_id) == (7, 800, 30, city.admin.id)
    client.post("/logout")
    login(city.disp)
    assert client.get("/dispatch/incidents/settings").status_code == 403
