"""Stock ledger benchmark: what the guarded, locked moves cost, and how the queries hold up on a big ledger.

    .venv/bin/python bench/bench_ledger.py                      # SQLite, small sizes (< 1 min)
    .venv/bin/python bench/bench_ledger.py --ledger 1000000     # the issue's 1,000,000-move ledger
    .venv/bin/python bench/bench_ledger.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

1. Moves per second through `record_move` (validation, guarded UPDATE of the level, ledger row,
   reorder check; one commit per move) against plain inserts of the same ledger rows (one commit each).
2. On a ledger of N moves: a level read from the kept table against summing the ledger for it, a
   serial unit's history, a location's stock page, and the full `verify_ledger` pass.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--moves", type=int, default=1000, help="moves for the throughput comparison")
    p.add_argument("--ledger", type=int, default=50_000, help="ledger size for the query timings (1000000 for full)")
    p.add_argument("--postgres", metavar="URL", help="a PostgreSQL server URL; a scratch database is made there")
    return p.parse_args()


def database(args: argparse.Namespace):
    """A scratch database URL and a function that drops it."""
    if not args.postgres:
        folder = tempfile.mkdtemp(prefix="bench-ledger-")
        return f"sqlite:///{folder}/bench.db", folder, lambda: shutil.rmtree(folder, ignore_errors=True)
    base = make_url(args.postgres)
    name = f"r24_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    folder = tempfile.mkdtemp(prefix="bench-ledger-")

    def drop_all():
        drop()
        shutil.rmtree(folder, ignore_errors=True)
    return base.set(database=name).render_as_string(hide_password=False), folder, drop_all


def timed(fn, repeat: int = 5) -> float:
    """Median seconds of `repeat` runs."""
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    args = parse_args()
    url, instance, drop = database(args)
    from app import create_app
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "INSTANCE_PATH": instance, "SECRET_KEY": "bench",
                      "TESTING": True, "SCHEDULER_ENABLED": False, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    try:
        with app.app_context():
            upgrade()
            run(app, args)
    finally:
        with app.app_context():
            from core.extensions import db
            db.session.remove()
            db.engine.dispose()
        drop()


def run(app, args: argparse.Namespace) -> None:
    from core import auth, stations
    from core.extensions import db
    from inventory import services
    from inventory.models import Item, Location, SerialUnit, StockLevel, StockMove

    dialect = db.engine.dialect.name
    print(f"database: {dialect}; {args.moves} moves for throughput, {args.ledger:,} moves in the big ledger")
    square = {"type": "Polygon", "coordinates": [[[114, 22.5], [114.01, 22.5], [114.01, 22.51], [114, 22.51],
                                                  [114, 22.5]]]}
    st = stations.create_station(code="S01", name="Bench", lat=22.505, lon=114.005, coverage=square)
    admin = auth.create_user("bench-admin", "admin", "password123")
    auth.create_user("bench-tech", "technician", "password123", station=st)
    services.save_item(sku="BENCH-1", name="bench part", category="connector", actor=admin)
    services.ensure_locations()
    services.record_move("receive", sku="BENCH-1", qty=args.moves * 10, target="S01", actor=admin)
    db.session.commit()
    item = services.item_by_sku("BENCH-1")
    store, van = services.location_by_code("S01"), services.location_by_code("VAN-BENCH-TECH")

    # 1. throughput: the real move against an insert of the same row, interleaved in rounds so that
    #    the machine's load drifts over both alike
    locked = plain = 0.0
    rounds = 10
    per_round = max(1, args.moves // rounds)
    for r in range(rounds):
        t0 = time.perf_counter()
        for i in range(per_round):
            src, dst = (store, van) if i % 2 == 0 else (van, store)
            services.record_move("transfer", sku="BENCH-1", qty=1, source=src.code, target=dst.code, actor=admin)
            db.session.commit()
        locked += time.perf_counter() - t0
        t0 = time.perf_counter()
        for i in range(per_round):
            src, dst = (store, van) if i % 2 == 0 else (van, store)
            db.session.add(StockMove(type="transfer", item_id=item.id, qty=1, from_location_id=src.id,
                                     to_location_id=dst.id, reason="", actor_id=admin.id, at=services.now()))
            db.session.commit()
        plain += time.perf_counter() - t0
    n = per_round * rounds
    print(f"moves/s through record_move (guarded update, ledger row, reorder check): {n / locked:,.0f}")
    print(f"moves/s as plain ledger inserts:                                          {n / plain:,.0f}")
    print(f"cost of keeping levels exact under concurrency: {locked / plain:.2f}x the plain insert")

    # 2. a big ledger, written in bulk, levels rebuilt from it
    n_items, n_locs, n_units = 200, 50, max(10, args.ledger // 5000)  # ~100 moves per unit
    db.session.execute(sa.insert(Item), [dict(sku=f"BIG-{i}", name=f"big {i}", category="cable", unit="m",
                                              is_serialized=False, unit_cost=1, reorder_point=0, reorder_qty=0,
                                              van_reorder_point=0, created_at=services.now())
                                         for i in range(n_items)])
    db.session.execute(sa.insert(Location), [dict(code=f"BIG-LOC-{i}", name="", kind="repair")
                                             for i in range(n_locs)])
    db.session.execute(sa.insert(Item), [dict(sku="BIG-BOX", name="box", category="set_top_box", unit="pcs",
                                              is_serialized=True, unit_cost=1, reorder_point=0, reorder_qty=0,
                                              van_reorder_point=0, created_at=services.now())])
    db.session.commit()
    item_ids = list(db.session.scalars(sa.select(Item.id).where(Item.sku.like("BIG-%"), Item.sku != "BIG-BOX")))
    loc_ids = list(db.session.scalars(sa.select(Location.id).where(Location.code.like("BIG-LOC-%"))))
    box = db.session.scalar(sa.select(Item.id).where(Item.sku == "BIG-BOX"))
    supplier = services.location_by_code("SUPPLIER").id
    customers = services.location_by_code("CUSTOMERS").id
    db.session.execute(sa.insert(SerialUnit), [dict(serial=f"BIGSN{u:05d}", item_id=box, status="in_repair",
                                                    location_id=loc_ids[0], updated_at=services.now())
                                               for u in range(n_units)])
    db.session.commit()
    unit_ids = list(db.session.scalars(sa.select(SerialUnit.id).where(SerialUnit.serial.like("BIGSN%"))))
    t0 = time.perf_counter()
    at = services.now()
    chunk: list[dict] = []
    for i in range(args.ledger):
        if i % 50 == 49:  # a serial unit moving between repair places
            u = unit_ids[(i // 50) % n_units]
            k = (i // 50) // n_units
            row = dict(type="receive", item_id=box, qty=1, serial_unit_id=u, from_location_id=supplier,
                       to_location_id=loc_ids[k % n_locs])
        else:
            loc, it = loc_ids[i % n_locs], item_ids[(i // n_locs) % n_items]
            issue = (i // (n_locs * n_items)) % 3 == 2  # receive, receive, issue: never below zero
            row = dict(type="issue" if issue else "receive", item_id=it, qty=1, serial_unit_id=None,
                       from_location_id=loc if issue else supplier, to_location_id=customers if issue else loc)
        chunk.append(dict(row, reason="", actor_id=admin.id, at=at))
        if len(chunk) == 20_000:
            db.session.execute(sa.insert(StockMove), chunk)
            chunk = []
    if chunk:
        db.session.execute(sa.insert(StockMove), chunk)
    flows = sa.union_all(
        sa.select(StockMove.to_location_id.label("loc"), StockMove.item_id.label("item"), StockMove.qty.label("q"))
        .where(StockMove.to_location_id.in_(loc_ids)),
        sa.select(StockMove.from_location_id, StockMove.item_id, -StockMove.qty)
        .where(StockMove.from_location_id.in_(loc_ids))).subquery()
    db.session.execute(sa.insert(StockLevel).from_select(
        ["location_id", "item_id", "qty", "reorder_point", "reorder_qty", "is_low", "low_crossings"],
        sa.select(flows.c.loc, flows.c.item, sa.func.sum(flows.c.q), 0, 0, False, 0)
        .group_by(flows.c.loc, flows.c.item)))
    last = (sa.select(StockMove.serial_unit_id, sa.func.max(StockMove.id).label("mid"))
            .where(StockMove.serial_unit_id.is_not(None)).group_by(StockMove.serial_unit_id).subquery())
    for uid, to_id in db.session.execute(sa.select(last.c.serial_unit_id, StockMove.to_location_id)
                                         .join(StockMove, StockMove.id == last.c.mid)):
        db.session.execute(sa.update(SerialUnit).where(SerialUnit.id == uid).values(location_id=to_id))
    db.session.commit()
    if dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        db.session.execute(sa.text("ANALYZE"))
    print(f"\nbuilt a {args.ledger:,}-move ledger in {time.perf_counter() - t0:.1f} s")

    loc = db.session.get(Location, loc_ids[7])
    big = db.session.get(Item, item_ids[3])
    unit = db.session.get(SerialUnit, unit_ids[5])

    def level_kept():
        services.level_of(loc, big)

    def level_summed():
        db.session.scalar(sa.select(
            sa.func.coalesce(sa.func.sum(sa.case((StockMove.to_location_id == loc.id, StockMove.qty),
                                                 else_=-StockMove.qty)), 0))
            .where(StockMove.item_id == big.id,
                   sa.or_(StockMove.to_location_id == loc.id, StockMove.from_location_id == loc.id)))

    def page_summed():
        signed = sa.case((StockMove.to_location_id == loc.id, StockMove.qty), else_=-StockMove.qty)
        db.session.execute(sa.select(StockMove.item_id, sa.func.sum(signed)).where(
            sa.or_(StockMove.to_location_id == loc.id, StockMove.from_location_id == loc.id))
            .group_by(StockMove.item_id).limit(100)).all()

    def history():
        services.unit_history(unit)

    class Viewer:  # an admin sees every place
        role, is_centre_manager = "admin", True

    def stock_page():
        db.session.execute(services.levels_query(Viewer(), location=loc.code).limit(100)).all()

    assert services.level_of(loc, big) == db.session.scalar(sa.select(
        sa.func.coalesce(sa.func.sum(sa.case((StockMove.to_location_id == loc.id, StockMove.qty),
                                             else_=-StockMove.qty)), 0))
        .where(StockMove.item_id == big.id,
               sa.or_(StockMove.to_location_id == loc.id, StockMove.from_location_id == loc.id)))
    kept, summed = timed(level_kept, 50), timed(level_summed, 20)
    hist, page = timed(history, 50), timed(stock_page, 20)
    print(f"level of one item at one place, kept table:  {kept * 1000:8.3f} ms")
    print(f"the same level summed from the ledger:       {summed * 1000:8.3f} ms  ({summed / kept:,.1f}x the kept read)")
    print(f"a serial unit's history ({len(services.unit_history(unit))} moves):     {hist * 1000:8.3f} ms"
          f"  ({hist / kept:,.1f}x the kept read)")
    summed_page = timed(page_summed, 5)
    print(f"one location's stock page (100 rows):        {page * 1000:8.3f} ms  ({page / kept:,.1f}x the kept read)")
    print(f"the same page summed from the ledger:        {summed_page * 1000:8.3f} ms  "
          f"({summed_page / page:,.1f}x the kept page)")
    verify = timed(lambda: services.verify_ledger(), 1)
    report = services.verify_ledger()
    print(f"verify_ledger over the whole ledger:          {verify:8.2f} s   "
          f"({report.levels_checked:,} levels, {'no differences' if report.ok else 'DIFFERENCES'})")


if __name__ == "__main__":
    os.environ.setdefault("FLASK_APP", "app")
    main()
