"""Intake throughput: orders per second through `create_order` (validation, placement, technician
scoring, numbering, timeline, notification, audit) against a plain insert of the same rows, in the
same process and database, one transaction per order as requests do. Target: ratio ≥ 0.3.

    .venv/bin/python bench/bench_intake.py                    # SQLite file, 300 orders
    .venv/bin/python bench/bench_intake.py --orders 2000 --database postgresql+psycopg://postgres@127.0.0.1:5432/bench
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402


def build_city(seed: int) -> None:
    from core import auth, demo, demo_city
    from core.extensions import db
    from dispatch.orders import services

    demo.load_stations(seed, _quiet)
    areas = demo_city.station_areas(demo_city.load_districts(), seed=seed)
    by_code = {s.code: s for s in demo.stations.all_stations()}
    for person in demo_city.people(areas, seed=seed):
        if person.role != "technician":
            if person.username == "dispatch-1":
                auth.create_user(person.username, "dispatcher", "bench-password", full_name=person.full_name)
            continue
        user = auth.create_user(person.username, "technician", "bench-password",
                                station=by_code[person.station_code], skills=person.skills)
        services.set_duty(user, on_duty=True, shift=person.shift)
    demo.load_customers(seed, _quiet)
    services.ensure_reference_data()
    db.session.commit()


class _quiet:
    def __init__(self, items, label):
        self.items = items

    def __enter__(self):
        return self.items

    def __exit__(self, *exc):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--database", default=None, help="SQLAlchemy URL (default: a temporary SQLite file)")
    parser.add_argument("--seed", type=int, default=24)
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = args.database or f"sqlite:///{tmp.name}/bench.db"

    from flask_migrate import upgrade

    from app import create_app
    from core.auth import find_user
    from core.customers import Customer
    from core.extensions import db
    from dispatch.orders import services

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": tmp.name, "SECRET_KEY": "bench",
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "GEOCODER_DOMAIN": ""})
    with app.app_context():
        if url.startswith("postgresql"):
            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        upgrade()
        build_city(args.seed)
        dispatcher = find_user("dispatch-1")
        rng = random.Random(args.seed)
        customers = list(db.session.scalars(sa.select(Customer).where(Customer.lat.is_not(None))))
        codes = [c.code for c in services.categories() if c.kind == "fault"]
        requests = [{"customer_id": rng.choice(customers).id, "category": rng.choice(codes),
                     "description": "No picture since this morning", "channel": "hotline"}
                    for _ in range(args.orders)]

        for commit_each in (True, False):
            label = "one transaction per order" if commit_each else "one transaction for all"
            service_s, plain_s, assigned = measure(requests, dispatcher, commit_each)
            n = len(requests)
            ratio = plain_s / service_s
            print(f"{url.split(':')[0]}, {n} orders, {label} ({assigned}/{n} assigned to a technician):")
            print(f"  through create_order (with assignment): {n / service_s:8.1f} orders/s")
            print(f"  plain insert of the same rows:          {n / plain_s:8.1f} orders/s")
            print(f"  ratio: {ratio:.2f} ({'meets' if ratio >= 0.3 else 'MISSES'} the >= 0.3 target)")


def measure(requests: list[dict], dispatcher, commit_each: bool) -> tuple[float, float, int]:
    """Seconds for the requests through the service, then for writing the very rows it wrote."""
    from core import audit
    from core.extensions import db
    from core.outbox import Notification
    from dispatch.orders import services
    from dispatch.orders.models import OrderEvent, RepairOrder

    first_id = db.session.scalar(sa.select(sa.func.max(RepairOrder.id))) or 0
    start = time.perf_counter()
    for body in requests:
        services.create_order(body, dispatcher)
        if commit_each:
            db.session.commit()
    db.session.commit()
    service_s = time.perf_counter() - start

    made = list(db.session.scalars(sa.select(RepairOrder).where(RepairOrder.id > first_id).order_by(RepairOrder.id)))
    events: dict[int, list[OrderEvent]] = {}
    for e in db.session.scalars(sa.select(OrderEvent).where(OrderEvent.order_id > first_id)):
        events.setdefault(e.order_id, []).append(e)
    notes = {n.order_id: n for n in db.session.scalars(sa.select(Notification).where(Notification.order_id > first_id))}
    order_cols = [c.key for c in RepairOrder.__table__.columns if c.key != "id"]
    event_cols = [c.key for c in OrderEvent.__table__.columns if c.key not in ("id", "order_id")]
    note_cols = [c.key for c in Notification.__table__.columns if c.key not in ("id", "order_id", "key")]
    rows = [({c: getattr(o, c) for c in order_cols}, [{c: getattr(e, c) for c in event_cols} for e in events[o.id]],
             {c: getattr(notes[o.id], c) for c in note_cols} if o.id in notes else None) for o in made]
    t_order, t_event, t_note = RepairOrder.__table__, OrderEvent.__table__, Notification.__table__
    start = time.perf_counter()
    for order_row, event_rows, note_row in rows:
        order_row = {**order_row, "number": "X" + order_row["number"]}
        new_id = db.session.execute(t_order.insert().values(order_row).returning(t_order.c.id)).scalar_one()
        for ev in event_rows:
            db.session.execute(t_event.insert().values(order_id=new_id, **ev))
        if note_row:
            db.session.execute(t_note.insert().values(order_id=new_id, key=f"plain:{new_id}", **note_row))
        audit.record("order.create", "repair_order", new_id, actor=dispatcher, number=order_row["number"])
        if commit_each:
            db.session.commit()
    db.session.commit()
    plain_s = time.perf_counter() - start
    return service_s, plain_s, sum(1 for o in made if o.technician_id)


if __name__ == "__main__":
    main()
