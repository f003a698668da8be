"""`flask inventory verify`, the demo step and the loan reminder job."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa

from core.auth import User
from core.extensions import db
from core.outbox import Notification
from inventory import cli, jobs, services
from inventory.models import Loan, SerialUnit, StockLevel, StockMove


@contextmanager
def quiet(items, label):
    yield iter(items)


def small_city(make_station, make_user, make_customer):
    s1, s2 = make_station("S01"), make_station("S02", lon=114.1)
    make_user("admin", username="admin")
    for st in (s1, s2):
        make_user("stockkeeper", username=f"stock-{st.code.lower()}", station=st)
        for n in (1, 2):
            make_user("technician", username=f"tech-{st.code.lower()}-{n}", station=st)
    for _ in range(20):
        make_customer()


def test_verify_command_exit_codes(app, runner, make_station, make_user):
    make_station("S01")
    keeper = make_user("stockkeeper", username="keeper")
    with app.app_context():
        services.save_item(sku="CON-F", name="F", category="connector", actor=db.session.get(User, keeper.id))
        services.record_move("receive", sku="CON-F", qty=4, target="S01", actor=db.session.get(User, keeper.id))
        db.session.commit()
    result = runner.invoke(args=["inventory", "verify"])
    assert result.exit_code == 0 and "0 differences" in result.output
    with app.app_context():
        db.session.execute(sa.update(StockLevel).values(qty=3))
        db.session.commit()
    result = runner.invoke(args=["inventory", "verify"])
    assert result.exit_code == 1 and "DIFF S01 CON-F: level 3, ledger 4" in result.output


def test_demo_step_loads_a_consistent_stock(app, make_station, make_user, make_customer, clock):
    small_city(make_station, make_user, make_customer)
    with app.app_context():
        cli.load_inventory(seed=24, progress=quiet)
        db.session.commit()
        assert services.verify_ledger().ok
        types = dict(db.session.execute(sa.select(StockMove.type, sa.func.count()).group_by(StockMove.type)).all())
        assert types["receive"] > 100 and types["transfer"] > 20 and types["consume"] == 16 and types["loan_out"] == 4
        levels = {(lv.location.code, lv.item.sku): lv.qty for lv in db.session.scalars(sa.select(StockLevel))}
        assert levels[("VAN-TECH-S01-1", "STB-HD200")] == 2 and levels[("S02", "STB-HD200")] == 10
        assert db.session.scalar(sa.select(SerialUnit.serial).order_by(SerialUnit.id)) == "STBHD200S010001"
        loans = db.session.scalars(sa.select(Loan)).all()
        assert sum(loan.is_overdue() for loan in loans) == 1  # one of the two stations
        before = db.session.scalar(sa.select(sa.func.count()).select_from(StockMove))
        cli.load_inventory(seed=24, progress=quiet)  # loaded already: nothing more
        assert db.session.scalar(sa.select(sa.func.count()).select_from(StockMove)) == before


def test_loan_reminder_job_once_per_loan(app, make_station, make_user, make_customer, clock):
    st = make_station("S01")
    keeper = make_user("stockkeeper", username="keeper", station=st)
    customer = make_customer()
    with app.app_context():
        k = db.session.get(User, keeper.id)
        services.save_item(sku="STB-1", name="box", category="set_top_box", is_serialized=True, actor=k)
        services.record_move("receive", serial="B1", sku="STB-1", target="S01", actor=k)
        services.lend_loaner(None, customer.id, "B1", k, due_at=clock.current + timedelta(days=2))
        db.session.commit()
        assert jobs.loan_reminders() == "0 overdue loans reminded"
        clock.advance(days=3)
        assert jobs.loan_reminders() == "1 overdue loans reminded"
        assert jobs.loan_reminders() == "0 overdue loans reminded"
        notes = db.session.scalars(sa.select(Notification).where(Notification.kind == "loan_overdue")).all()
        assert [n.recipient_id for n in notes] == [keeper.id] and "B1" in notes[0].title
