"""Inventory services: the ledger, levels, serial units, loans, alerts, reports."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from core.outbox import Notification
from inventory import services
from inventory.models import StockLevel, StockMove


@pytest.fixture
def world(app, make_station, make_user, make_customer):
    """Two stations, a keeper and a technician at the first, one at the second, an admin, a catalogue."""
    s1, s2 = make_station("S01"), make_station("S02", lon=114.1)
    people = {
        "keeper": make_user("stockkeeper", username="keeper", station=s1),
        "keeper2": make_user("stockkeeper", username="keeper2", station=s2),
        "tech": make_user("technician", username="tech", station=s1),
        "tech2": make_user("technician", username="tech2", station=s2),
        "admin": make_user("admin", username="boss"),
        "dispatcher": make_user("dispatcher", username="disp"),
        "customer": make_customer(),
    }
    with app.app_context():
        admin = db.session.get(type(people["admin"]), people["admin"].id)
        services.save_item(sku="CON-F", name="F connector", category="connector", reorder_point=10,
                           reorder_qty=50, van_reorder_point=2, actor=admin)
        services.save_item(sku="STB-1", name="Set-top box", category="set_top_box", is_serialized=True,
                           reorder_point=1, actor=admin)
        services.ensure_locations()
        db.session.commit()
    return people


def u(user):
    """Re-fetch a detached factory user in the current session."""
    return db.session.get(type(user), user.id)


def level(code, sku):
    return services.level_of(services.location_by_code(code), services.item_by_sku(sku))


def moves_count():
    return db.session.scalar(sa.select(sa.func.count()).select_from(StockMove))


def test_locations_for_every_station_and_technician(ctx, world):
    codes = set(db.session.scalars(sa.select(services.Location.code)))
    assert {"S01", "S02", "VAN-TECH", "VAN-TECH2", "SUPPLIER", "REPAIR", "CUSTOMERS", "SCRAP"} <= codes
    assert services.van_of(u(world["tech"])).station.code == "S01"
    assert services.ensure_locations() == 0  # idempotent


def test_receive_transfer_issue_follow_the_ledger(ctx, world):
    keeper, tech = u(world["keeper"]), u(world["tech"])
    services.record_move("receive", sku="CON-F", qty=100, target="S01", actor=keeper)
    services.record_move("transfer", sku="CON-F", qty=30, source="S01", target="VAN-TECH", actor=keeper)
    services.record_move("issue", sku="con-f", qty="5", source="VAN-TECH", order_id=77, actor=tech)
    assert level("S01", "CON-F") == 70 and level("VAN-TECH", "CON-F") == 25
    assert services.verify_ledger().ok
    issue = db.session.scalar(sa.select(StockMove).where(StockMove.type == "issue"))
    assert issue.order_id == 77 and issue.to_location.code == "CUSTOMERS" and issue.actor_id == tech.id


@pytest.mark.parametrize("kwargs, field", [
    (dict(type="receive", sku="CON-F", qty=0, target="S01"), "qty"),
    (dict(type="receive", sku="CON-F", qty=-3, target="S01"), "qty"),
    (dict(type="receive", sku="CON-F", qty=2.5, target="S01"), "qty"),
    (dict(type="receive", sku="CON-F", qty="ten", target="S01"), "qty"),
    (dict(type="receive", sku="CON-F", qty=True, target="S01"), "qty"),
    (dict(type="receive", sku="NOPE", qty=1, target="S01"), "sku"),
    (dict(type="receive", sku=None, qty=1, target="S01"), "sku"),
    (dict(type="receive", sku="CON-F", serial="X1", target="S01"), "serial"),
    (dict(type="receive", sku="STB-1", qty=2, target="S01"), "qty"),
    (dict(type="receive", sku="STB-1", target="S01"), "serial"),
    (dict(type="transfer", sku="CON-F", qty=1, source="S01", target="S01"), "to"),
    (dict(type="transfer", sku="CON-F", qty=1, source="S01", target="NOWHERE"), "to"),
    (dict(type="transfer", sku="CON-F", qty=1, source="S01"), "to"),
    (dict(type="teleport", sku="CON-F", qty=1, source="S01", target="S02"), "type"),
    (dict(type="adjust", sku="CON-F", qty=1, target="S01"), "reason"),
    (dict(type="adjust", sku="CON-F", qty=1, source="S01", target="VAN-TECH", reason="x"), "from"),
    (dict(type="receive", sku="CON-F", qty=1, target="CUSTOMERS"), "to"),
    (dict(type="loan_out", sku="CON-F", qty=1, source="S01", customer_id=1), "type"),
])
def test_bad_input_is_refused_and_nothing_written(ctx, world, kwargs, field):
    before = moves_count()
    with pytest.raises(Invalid) as err:
        services.record_move(kwargs.pop("type"), actor=u(world["keeper"]), **kwargs)
    assert field in err.value.fields, err.value.fields
    assert moves_count() == before


def test_more_than_is_there_is_a_conflict_and_changes_nothing(ctx, world):
    keeper = u(world["keeper"])
    services.record_move("receive", sku="CON-F", qty=5, target="S01", actor=keeper)
    with pytest.raises(Conflict) as err:
        services.record_move("transfer", sku="CON-F", qty=6, source="S01", target="VAN-TECH", actor=keeper)
    assert err.value.status == 409 and err.value.fields == {"qty": "not_enough"}
    assert level("S01", "CON-F") == 5 and level("VAN-TECH", "CON-F") == 0 and moves_count() == 1
    with pytest.raises(Conflict):  # nothing at all in the van
        services.record_move("transfer", sku="CON-F", qty=1, source="VAN-TECH", target="S01", actor=keeper)


def test_serial_units_follow_their_moves_and_are_in_one_place(ctx, world):
    keeper, tech, cust = u(world["keeper"]), u(world["tech"]), world["customer"]
    services.receive_batch("STB-1", "S01", keeper, serials=["sn1", "SN2 ", ""])
    unit = services.get_unit("SN1")
    assert unit.status == "in_store" and unit.location.code == "S01" and level("S01", "STB-1") == 2
    services.record_move("transfer", serial="SN1", source="S01", target="VAN-TECH", actor=keeper)
    with pytest.raises(Conflict) as err:  # it is in the van now
        services.record_move("transfer", serial="SN1", source="S01", target="VAN-TECH", actor=keeper)
    assert err.value.fields == {"serial": "elsewhere"}
    services.record_move("issue", serial="SN1", source="VAN-TECH", order_id=5, customer_id=cust.id, actor=tech)
    unit = services.get_unit("SN1")
    assert (unit.status, unit.location.code, unit.customer_id) == ("installed", "CUSTOMERS", cust.id)
    history = services.unit_history(unit)
    assert [m.type for m in history] == ["receive", "transfer", "issue"]
    with pytest.raises(Conflict):  # a serial cannot be received twice
        services.receive_batch("STB-1", "S01", keeper, serials=["SN2"])
    with pytest.raises(Conflict) as err:
        services.record_move("receive", serial="SN1", target="S01", actor=keeper)
    assert err.value.fields == {"serial": "exists"}
    with pytest.raises(Conflict) as err:  # installed, not lent
        services.record_move("loan_in", serial="SN1", target="S01", actor=keeper)
    assert err.value.fields == {"serial": "not_on_loan"}
    assert services.verify_ledger().ok


def test_faulty_unit_collected_repaired_and_back(ctx, world):
    keeper, tech, cust = u(world["keeper"]), u(world["tech"]), world["customer"]
    unit = services.collect_faulty_unit("OWN-1", tech, sku="STB-1", customer_id=cust.id, order_id=9)
    assert (unit.status, unit.location.code, unit.customer_id) == ("faulty", "VAN-TECH", cust.id)
    services.record_move("transfer", serial="OWN-1", source="VAN-TECH", target="S01", actor=keeper)
    assert services.get_unit("OWN-1").status == "faulty"
    with pytest.raises(Conflict):  # a faulty unit is not issued
        services.record_move("issue", serial="OWN-1", source="S01", actor=keeper)
    services.record_move("repair_out", serial="OWN-1", source="S01", actor=keeper)
    assert services.get_unit("OWN-1").status == "in_repair" and level("REPAIR", "STB-1") == 1
    services.record_move("repair_in", serial="OWN-1", target="S01", actor=keeper)
    assert services.get_unit("OWN-1").status == "in_store"
    services.record_move("scrap", serial="OWN-1", source="S01", reason="beyond repair", actor=keeper)
    assert services.get_unit("OWN-1").status == "scrapped" and level("S01", "STB-1") == 0
    assert services.verify_ledger().ok


def test_loans_lend_remind_once_and_return(ctx, world, clock):
    keeper, tech, cust = u(world["keeper"]), u(world["tech"]), world["customer"]
    services.receive_batch("STB-1", "S01", keeper, serials=["L1"])
    services.record_move("transfer", serial="L1", source="S01", target="VAN-TECH", actor=keeper)
    loan = services.lend_loaner(42, cust.id, "L1", tech)
    assert loan.due_at == clock.current + timedelta(days=14) and loan.station_id == world["keeper"].station_id
    assert services.get_unit("L1").status == "on_loan"
    with pytest.raises(Conflict):  # on loan: it cannot be lent again or moved otherwise
        services.lend_loaner(43, cust.id, "L1", tech)
    assert services.remind_overdue_loans() == 0
    clock.advance(days=15)
    assert services.remind_overdue_loans() == 1
    assert services.remind_overdue_loans() == 0  # once per loan
    notes = db.session.scalars(sa.select(Notification).where(Notification.kind == "loan_overdue")).all()
    assert {n.recipient_id for n in notes} == {keeper.id, tech.id} and notes[0].order_id == 42
    loan = services.return_loaner("L1", tech)
    assert loan.returned_at == clock.current
    unit = services.get_unit("L1")
    assert (unit.status, unit.location.code, unit.customer_id) == ("in_van", "VAN-TECH", None)
    assert services.verify_ledger().ok


def test_loaner_due_when_customers_own_unit_is_back(ctx, world, clock):
    keeper, cust = u(world["keeper"]), world["customer"]
    services.receive_batch("STB-1", "S01", keeper, serials=["L2"])
    loan = services.lend_loaner(1, cust.id, "L2", keeper)
    services.collect_faulty_unit("OWN-2", keeper, sku="STB-1", customer_id=cust.id)
    services.record_move("repair_out", serial="OWN-2", source="S01", actor=keeper)
    clock.advance(days=3)
    services.record_move("repair_in", serial="OWN-2", target="S01", actor=keeper)
    db.session.refresh(loan)
    assert loan.due_at == clock.current


def test_issue_parts_checks_everything_first(ctx, world):
    keeper, tech = u(world["keeper"]), u(world["tech"])
    services.record_move("receive", sku="CON-F", qty=10, target="VAN-TECH", actor=keeper)
    services.receive_batch("STB-1", "VAN-TECH", keeper, serials=["P1"])
    services.receive_batch("STB-1", "S01", keeper, serials=["P2"])
    before = moves_count()
    with pytest.raises(Conflict):  # 6 + 6 > 10: the whole list is refused
        services.issue_parts_for_order(7, tech, [{"sku": "CON-F", "qty": 6}, {"serial": "P1"}, {"sku": "CON-F", "qty": 6}])
    with pytest.raises(Conflict):  # P2 is in the store, not the van
        services.issue_parts_for_order(7, tech, [{"sku": "CON-F", "qty": 1}, {"serial": "P2"}])
    with pytest.raises(Invalid):
        services.issue_parts_for_order(7, tech, [{"sku": "CON-F", "qty": 1}, {"sku": "BAD", "qty": 1}])
    with pytest.raises(Invalid):
        services.issue_parts_for_order(7, tech, [])
    assert moves_count() == before and level("VAN-TECH", "CON-F") == 10
    moves = services.issue_parts_for_order(7, tech, [{"sku": "CON-F", "qty": 4}, {"serial": "P1"}])
    assert {m.order_id for m in moves} == {7} and level("VAN-TECH", "CON-F") == 6
    assert services.get_unit("P1").status == "installed"


def test_permissions(ctx, world):
    keeper, keeper2, tech, tech2 = (u(world[k]) for k in ("keeper", "keeper2", "tech", "tech2"))
    services.record_move("receive", sku="CON-F", qty=10, target="S01", actor=keeper)
    services.record_move("receive", sku="CON-F", qty=10, target="VAN-TECH", actor=keeper)
    with pytest.raises(Forbidden):  # another station's store
        services.record_move("transfer", sku="CON-F", qty=1, source="S01", target="VAN-TECH2", actor=keeper2)
    with pytest.raises(Forbidden):  # technicians do not transfer
        services.record_move("transfer", sku="CON-F", qty=1, source="VAN-TECH", target="S01", actor=tech)
    with pytest.raises(Forbidden):  # nor issue from someone else's van
        services.record_move("issue", sku="CON-F", qty=1, source="VAN-TECH", actor=tech2)
    with pytest.raises(Forbidden):
        services.record_move("receive", sku="CON-F", qty=1, target="S01", actor=u(world["dispatcher"]))
    with pytest.raises(Forbidden):
        services.save_item(sku="X", name="x", category="remote", actor=tech)
    # a keeper may send stock on to another station's store
    services.record_move("transfer", sku="CON-F", qty=2, source="S01", target="S02", actor=keeper)
    services.record_move("transfer", sku="CON-F", qty=1, source="S02", target="S01", actor=u(world["admin"]))
    assert level("S01", "CON-F") == 9 and level("S02", "CON-F") == 1 and moves_count() == 4


def test_reorder_alert_once_per_crossing(ctx, world):
    keeper = u(world["keeper"])
    services.record_move("receive", sku="CON-F", qty=12, target="S01", actor=keeper)  # reorder point 10

    def alerts():
        return db.session.scalars(sa.select(Notification).where(Notification.kind == "stock_low")).all()
    services.record_move("consume", sku="CON-F", qty=3, source="S01", actor=keeper)  # 9: below
    services.record_move("consume", sku="CON-F", qty=1, source="S01", actor=keeper)  # 8: still below
    assert len(alerts()) == 1 and alerts()[0].recipient_id == keeper.id
    lv = db.session.scalar(sa.select(StockLevel).join(StockLevel.location).where(services.Location.code == "S01"))
    assert lv.is_low and lv.suggested_qty == 50
    services.record_move("receive", sku="CON-F", qty=20, target="S01", actor=keeper)  # 28: back up
    services.record_move("consume", sku="CON-F", qty=20, source="S01", actor=keeper)  # 8: second crossing
    assert len(alerts()) == 2


def test_raising_the_reorder_point_alerts_and_is_checked(ctx, world):
    keeper, keeper2 = u(world["keeper"]), u(world["keeper2"])
    services.record_move("receive", sku="CON-F", qty=12, target="S01", actor=keeper)
    lv = db.session.scalar(sa.select(StockLevel).join(StockLevel.location).where(services.Location.code == "S01"))
    with pytest.raises(NotFound):  # another station's level does not exist for them
        services.set_reorder(lv.id, 20, 10, keeper2)
    with pytest.raises(Invalid):
        services.set_reorder(lv.id, -1, 10, keeper)
    services.set_reorder(lv.id, 20, 10, keeper)
    services.set_reorder(lv.id, 25, 10, keeper)  # still the same crossing
    notes = db.session.scalars(sa.select(Notification).where(Notification.kind == "stock_low")).all()
    assert len(notes) == 1 and "bring in 10" in notes[0].body
    assert [r.location.code for r in db.session.scalars(services.levels_query(keeper, low_only=True))] == ["S01"]


def test_cycle_count_turns_variances_into_adjust_moves(ctx, world):
    keeper = u(world["keeper"])
    services.record_move("receive", sku="CON-F", qty=20, target="S01", actor=keeper)
    moves = services.cycle_count("S01", {"CON-F": "17"}, "count 2026-03", keeper)
    assert [(m.type, m.qty, m.from_location.code) for m in moves] == [("adjust", 3, "S01")]
    assert services.cycle_count("S01", {"CON-F": 17}, "again", keeper) == []
    moves = services.cycle_count("S01", {"CON-F": 19}, "found", keeper)
    assert moves[0].to_location.code == "S01" and level("S01", "CON-F") == 19
    with pytest.raises(Invalid):
        services.cycle_count("S01", {"CON-F": 1}, "  ", keeper)
    with pytest.raises(Invalid):
        services.cycle_count("S01", {"CON-F": -1}, "x", keeper)


def test_verify_finds_a_tampered_level(ctx, world):
    keeper = u(world["keeper"])
    services.record_move("receive", sku="CON-F", qty=5, target="S01", actor=keeper)
    db.session.execute(sa.update(StockLevel).values(qty=7))
    report = services.verify_ledger()
    assert not report.ok and [(d.location, d.sku, d.level, d.ledger) for d in report.differences] == [
        ("S01", "CON-F", 7, 5)]
    db.session.rollback()
    services.receive_batch("STB-1", "S01", keeper, serials=["MIS-1"])
    db.session.execute(sa.update(services.SerialUnit).values(location_id=services.location_by_code("S02").id))
    assert services.verify_ledger().misplaced_units == ["MIS-1"]
    db.session.rollback()


def test_consumption_report(ctx, world, clock):
    keeper, tech, tech2 = u(world["keeper"]), u(world["tech"]), u(world["tech2"])
    admin = u(world["admin"])
    services.record_move("receive", sku="CON-F", qty=50, target="VAN-TECH", actor=keeper)
    services.record_move("receive", sku="CON-F", qty=50, target="VAN-TECH2", actor=admin)
    services.issue_parts_for_order(1, tech, [{"sku": "CON-F", "qty": 4}])
    services.issue_parts_for_order(2, tech, [{"sku": "CON-F", "qty": 2}])
    services.issue_parts_for_order(3, tech2, [{"sku": "CON-F", "qty": 5}])
    clock.advance(days=10)
    services.issue_parts_for_order(4, tech, [{"sku": "CON-F", "qty": 9}])
    by_tech = services.consumption_report(group_by="technician", until=clock.current - timedelta(days=1))
    assert [(r["username"], r["qty"], r["orders"], r["per_order"]) for r in by_tech] == [
        ("tech", 6, 2, 3.0), ("tech2", 5, 1, 5.0)]
    by_station = services.consumption_report(group_by="station")
    assert {r["code"]: r["qty"] for r in by_station} == {"S01": 15, "S02": 5}
    with pytest.raises(Invalid):
        services.consumption_report(group_by="colour")


def test_ledger_refuses_update_and_delete_on_postgres(ctx, world):
    keeper = u(world["keeper"])
    services.record_move("receive", sku="CON-F", qty=5, target="S01", actor=keeper)
    db.session.commit()
    if db.engine.dialect.name != "postgresql":
        return  # the trigger is PostgreSQL's; SQLite relies on the services never updating
    for stmt in (sa.update(StockMove).values(qty=6), sa.delete(StockMove)):
        with pytest.raises(sa.exc.DatabaseError):
            db.session.execute(stmt)
        db.session.rollback()
