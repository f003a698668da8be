"""The board's escalations: one row per order, bulk acknowledgement within the user's scope, and the
deadline table and rows sorted by the deadline as it stands (a paused order's moves on)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from core.audit import AuditEvent
from core.extensions import db
from dispatch.deadlines.models import SlaAlert
from dispatch.deadlines.services import sla
from dispatch.orders.models import OrderEvent, RepairOrder

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
ACK = "/dispatch/board/escalations/acknowledge"


def number(app, order_id: int) -> str:
    with app.app_context():
        return db.session.get(RepairOrder, order_id).number


def escalate(app, clock, hours: float) -> None:
    clock.set(T0 + timedelta(hours=hours))
    with app.app_context():
        sla.escalate_overdue_orders()
        db.session.commit()


def alert_ids(app, **where) -> list[int]:
    with app.app_context():
        stmt = sa.select(SlaAlert.id).where(SlaAlert.kind == "escalation").order_by(SlaAlert.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(SlaAlert, name) == value)
        return list(db.session.scalars(stmt))


def unacked(app) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(sa.select(SlaAlert.id).where(SlaAlert.acknowledged_at.is_(None),
                                                                  SlaAlert.kind == "escalation")))


def rows(page: str) -> list[str]:
    return re.findall(r'<tr data-testid="escalation-row"[^>]*>(.*?)</tr>', page, re.S)


def test_one_row_per_order_with_its_ladder(app, clock, client, login, city, make_order):
    clock.set(T0)
    first, second = make_order(), make_order()
    escalate(app, clock, 24)
    escalate(app, clock, 28)  # level 2 of both: four alerts, two orders
    assert len(alert_ids(app)) == 4
    login(city.boss)
    page = client.get("/dispatch/board").get_data(as_text=True)
    found = rows(page)
    assert len(found) == 2
    for oid, row in zip((first, second), found):
        assert number(app, oid) in row and f"/dispatch/orders/{oid}" in row
        assert "S01" in row and "t1" in row  # station and technician
        assert "Level 2" in row and row.count('data-testid="escalation-step"') == 2
        assert "L1 03-03 09:00" in row and "L2 03-03 13:00" in row  # Shanghai time
    assert 'data-testid="escalation-count">2<' in page


def test_bulk_acknowledge_with_a_flash_count(app, clock, client, login, city, make_order):
    clock.set(T0)
    a, b, c = make_order(), make_order(), make_order()
    escalate(app, clock, 24)
    login(city.sup1)
    page = client.get("/dispatch/board").get_data(as_text=True)
    values = re.findall(r'name="alerts" value="([0-9 ]+)"', page)
    assert len(values) == 3 and "Acknowledge selected" in page
    resp = client.post(ACK, data={"alerts": values[:2], "note": "crew sent"}, follow_redirects=True)
    assert "Escalations acknowledged: 2." in resp.get_data(as_text=True)
    with app.app_context():
        done = db.session.scalars(sa.select(SlaAlert).where(SlaAlert.acknowledged_at.is_not(None))).all()
        assert sorted(x.order_id for x in done) == [a, b]  # the first two rows (same deadline: by id)
        assert {x.acknowledged_by_id for x in done} == {city.sup1.id} and {x.ack_note for x in done} == {"crew sent"}
        audits = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "sla.acknowledge")).all()
        assert sorted(int(x.object_id) for x in audits) == sorted(x.id for x in done)
    page = client.get("/dispatch/board").get_data(as_text=True)
    assert len(rows(page)) == 1 and number(app, c) in rows(page)[0]


def test_row_button_acknowledges_only_its_row(app, clock, client, login, city, make_order):
    clock.set(T0)
    a, b = make_order(), make_order()
    escalate(app, clock, 24)
    escalate(app, clock, 28)
    login(city.boss)
    a_ids = " ".join(str(i) for i in alert_ids(app, order_id=a))
    b_ids = " ".join(str(i) for i in alert_ids(app, order_id=b))
    # a checked checkbox of another row does not ride along with a row's own button
    resp = client.post(ACK, data={"only": a_ids, "alerts": [b_ids]}, follow_redirects=True)
    assert "Escalations acknowledged: 2." in resp.get_data(as_text=True)
    assert unacked(app) == set(alert_ids(app, order_id=b))


def test_station_supervisor_acknowledges_only_what_is_theirs(app, clock, client, login, city, make_order):
    clock.set(T0)
    mine, theirs = make_order(), make_order(customer=city.customer2)
    escalate(app, clock, 28)
    mine_l1, mine_l2 = alert_ids(app, order_id=mine)
    other = alert_ids(app, order_id=theirs)
    login(city.sup1)
    page = client.get("/dispatch/board").get_data(as_text=True)
    assert len(rows(page)) == 1 and number(app, theirs) not in page
    assert re.findall(r'name="alerts" value="([0-9 ]+)"', page) == [str(mine_l1)]  # level 2 is not theirs
    hostile = [str(mine_l1), str(mine_l2), *map(str, other), "999999", "0", "-3", "2147483648", "9" * 400,
               "abc", "<script>alert(1)</script>", "²"]
    resp = client.post(ACK, data={"alerts": [" ".join(hostile)]}, follow_redirects=True)
    text = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Escalations acknowledged: 1." in text
    assert f"Not acknowledged: {len(hostile) - 1} of the selected escalations" in text
    assert "<script>alert(1)</script>" not in text
    assert unacked(app) == {mine_l2, *other}
    with app.app_context():  # nothing written for the refused ones: no event, no audit row
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "sla.acknowledge")) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OrderEvent).where(
            OrderEvent.order_id == theirs, OrderEvent.type == "note")) == 0
    # the single-alert route answers another station's escalation as missing, level 2 as not theirs
    assert client.post(f"/dispatch/board/escalations/{other[0]}/acknowledge").status_code == 404
    assert client.post(f"/dispatch/board/escalations/{mine_l2}/acknowledge").status_code == 403


def test_nothing_selected_or_too_much_changes_nothing(app, clock, client, login, city, make_order):
    clock.set(T0)
    make_order()
    escalate(app, clock, 24)
    login(city.sup1)
    before = unacked(app)
    text = client.post(ACK, data={}, follow_redirects=True).get_data(as_text=True)
    assert "Select at least one escalation to acknowledge." in text
    many = " ".join(str(i) for i in [*before, *range(100_000, 100_000 + sla.MAX_SELECTION)])
    text = client.post(ACK, data={"alerts": many}, follow_redirects=True).get_data(as_text=True)
    assert f"At most {sla.MAX_SELECTION} escalations can be acknowledged at once." in text
    text = client.post(ACK, data={"alerts": "999999 abc"}, follow_redirects=True).get_data(as_text=True)
    assert "Not acknowledged: 2 of the selected escalations" in text and "Escalations acknowledged" not in text
    assert unacked(app) == before


def test_acknowledged_already_is_reported(app, clock, client, login, city, make_order):
    clock.set(T0)
    make_order()
    escalate(app, clock, 24)
    (level1,) = alert_ids(app)
    login(city.sup1)
    client.post(ACK, data={"alerts": str(level1)})
    text = client.post(ACK, data={"alerts": str(level1)}, follow_redirects=True).get_data(as_text=True)
    assert "Acknowledged already by someone else: 1." in text


def test_dispatcher_sees_rows_but_may_not_acknowledge(app, clock, client, login, city, make_order):
    clock.set(T0)
    make_order()
    escalate(app, clock, 24)
    login(city.disp)
    page = client.get("/dispatch/board").get_data(as_text=True)
    assert len(rows(page)) == 1 and 'data-testid="ack-select"' not in page and 'data-testid="ack-button"' not in page
    assert "For the centre managers" not in page
    assert client.post(ACK, data={"alerts": " ".join(map(str, alert_ids(app)))}).status_code == 403
    assert len(unacked(app)) == 1


def test_may_acknowledge_follows_the_station_scope(app, clock, city, make_order):
    clock.set(T0)
    mine, theirs = make_order(), make_order(customer=city.customer2)
    escalate(app, clock, 28)
    from core.auth import get_user
    with app.app_context():
        alerts = {(a.order_id, a.level): a for a in db.session.scalars(sa.select(SlaAlert))}
        sup1, boss, admin, disp = (get_user(u.id) for u in (city.sup1, city.boss, city.admin, city.disp))
        assert sla.may_acknowledge(alerts[mine, 1], sup1) and not sla.may_acknowledge(alerts[mine, 2], sup1)
        assert not sla.may_acknowledge(alerts[theirs, 1], sup1)
        assert all(sla.may_acknowledge(a, u) for a in alerts.values() for u in (boss, admin))
        assert not any(sla.may_acknowledge(a, disp) for a in alerts.values())


def test_paused_orders_sort_by_the_deadline_as_it_stands(app, clock, client, login, city, make_order, act):
    """An order paused after its deadline: its stored deadline is the earlier one, but the deadline as
    it stands (the one shown) moves on while it waits, past a running order's. The table and the
    escalation rows both follow the one shown."""
    clock.set(T0)
    paused = make_order()  # deadline T0 + 24 h
    clock.set(T0 + timedelta(hours=2))
    running = make_order()  # deadline T0 + 26 h
    clock.set(T0 + timedelta(hours=3))
    for action in ("accept", "depart", "arrive"):
        act(paused, action, city.t1)
    escalate(app, clock, 26.5)  # both breached, both at level 1
    act(paused, "wait_customer", city.t1)  # paused 2.5 h past its deadline
    clock.set(T0 + timedelta(hours=30))  # its deadline as it stands: T0 + 27.5 h, after T0 + 26 h
    with app.app_context():
        p, r = db.session.get(RepairOrder, paused), db.session.get(RepairOrder, running)
        assert p.deadline_at < r.deadline_at and p.effective_deadline() > r.effective_deadline()
    login(city.sup1)
    page = client.get("/dispatch/board").get_data(as_text=True)
    table = page[page.index('data-testid="board-orders"'):]
    assert table.index(number(app, running)) < table.index(number(app, paused))
    assert "2026-03-03 12:30" in table  # T0 + 27.5 h in Shanghai: the paused order's deadline shown
    found = rows(page)
    assert len(found) == 2
    assert number(app, running) in found[0] and number(app, paused) in found[1]
    assert "2026-03-03 12:30" in found[1]


def _board_queries(count_queries, client) -> int:
    with count_queries() as seen:
        assert client.get("/dispatch/board").status_code == 200
    return len(seen)


def test_board_queries_do_not_grow_with_the_rows(app, clock, client, login, city, make_order, count_queries):
    clock.set(T0)
    make_order()
    escalate(app, clock, 28)
    login(city.boss)
    one = _board_queries(count_queries, client)
    clock.set(T0)
    for _ in range(6):
        make_order()
    escalate(app, clock, 28)
    assert len(rows(client.get("/dispatch/board").get_data(as_text=True))) == 7
    assert _board_queries(count_queries, client) == one
