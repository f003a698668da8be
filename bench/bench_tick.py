"""One SLA tick over many orders, against one indexed COUNT of the due orders (same process, same DB).

Two ticks are timed: a catch-up tick after the scheduler was down for --down-minutes (the
alerts due before that are stored already; those that fell due since get their alert rows,
events and notifications; --down-minutes 2000 makes every open order's alerts due) and a
steady tick one minute later (only the few orders that fell due in that minute). The
steady ratio tick/COUNT shows the jobs cost about what finding the due rows costs, however
many closed and open orders there are. EXPLAIN of the jobs' main queries shows the partial
indexes in use.

    .venv/bin/python bench/bench_tick.py                          # SQLite, 100,000 orders / 10,000 open
    .venv/bin/python bench/bench_tick.py --orders 1000000 --open 100000
    TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_tick.py
      (PostgreSQL too, in a throwaway database; --only sqlite|postgres to pick one)
"""
from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import event  # noqa: E402

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
CHUNK = 20_000


def make_app(url: str):
    from app import create_app
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                       "INSTANCE_PATH": tempfile.mkdtemp(), "SCHEDULER_ENABLED": False})


def seed(total: int, open_count: int, rnd: random.Random) -> None:
    """Staff, customers and `total` orders of which `open_count` are open faults reported in the last
    26 h over a 40 km square (so ~8 % are past their 24 h deadline and ~15 % inside the 4 h
    warning lead); the rest closed long ago."""
    from core import auth, customers, stations
    from core.extensions import db
    from dispatch.orders import services
    from dispatch.orders.models import Category, RepairOrder

    square = {"type": "Polygon", "coordinates": [[[113.8, 22.4], [114.2, 22.4], [114.2, 22.8], [113.8, 22.8],
                                                  [113.8, 22.4]]]}
    st = stations.create_station(code="B01", name="Bench", lat=22.55, lon=114.05, coverage=square)
    tech = auth.create_user("bench-tech", "technician", "bench-password", station=st)
    for i in range(3):
        auth.create_user(f"bench-disp-{i}", "dispatcher", "bench-password")
    auth.create_user("bench-sup", "supervisor", "bench-password", station=st)
    auth.create_user("bench-boss", "supervisor", "bench-password")
    services.ensure_reference_data()
    cust = [customers.create_customer(account_no=f"B{i:07d}", name=f"Bench {i}", phone="13800000000",
                                      address=f"{i} Bench Road", lat=22.55, lon=114.05) for i in range(200)]
    db.session.flush()
    cats = list(db.session.scalars(sa.select(Category).where(Category.code.in_(
        ("DTV-MOSAIC", "BB-SLOW", "CATV-SNOW")))))
    db.session.commit()
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        if rows:
            db.session.connection().execute(RepairOrder.__table__.insert(), rows)
            db.session.commit()
            rows.clear()

    for n in range(total):
        is_open = n < open_count
        reported = NOW - (timedelta(hours=rnd.uniform(0, 26)) if is_open else timedelta(days=rnd.uniform(2, 400)))
        deadline = reported + timedelta(hours=24)
        rows.append({
            "number": f"RO-B-{n:08d}", "customer_id": cust[n % len(cust)].id, "kind": "fault",
            "category_id": cats[n % 3].id, "priority": "normal", "channel": "api", "description": "bench",
            "address": "Bench Road", "lat": 22.6 + rnd.uniform(-0.18, 0.18), "lon": 114.0 + rnd.uniform(-0.19, 0.19),
            "needs_location": False, "station_id": st.id, "placement_reason": "", "technician_id": tech.id,
            "candidates": [], "status": "assigned" if is_open else "closed", "reported_at": reported,
            "deadline_at": deadline, "warn_at": deadline - timedelta(hours=4), "paused_at": None,
            "paused_seconds": 0, "escalation_level": 0, "resolution": {}, "is_repeat": False, "weight": 1.0,
            "incident_id": None, "assigned_at": reported, "resolved_at": None if is_open else reported + timedelta(hours=5),
            "closed_at": None if is_open else reported + timedelta(hours=6), "created_at": reported,
            "updated_at": reported, "version": 1,
        })
        if len(rows) >= CHUNK:
            flush()
    flush()


def mark_done_before(down_since: datetime) -> None:
    """The state a scheduler that ran until `down_since` leaves: every alert due by then is stored
    (order levels moved, alert rows written) — the tick after the restart catches up the rest."""
    from core.extensions import db
    from dispatch.orders.models import RepairOrder
    from dispatch.deadlines.models import SlaAlert

    running = sa.and_(RepairOrder.status.not_in(("resolved", "closed", "cancelled")),
                      RepairOrder.paused_at.is_(None))
    step = timedelta(hours=4)
    db.session.execute(sa.update(RepairOrder).where(running, RepairOrder.deadline_at <= down_since)
                       .values(escalation_level=1))
    db.session.execute(sa.update(RepairOrder).where(running, RepairOrder.deadline_at <= down_since - step)
                       .values(escalation_level=2))
    cols = ["order_id", "kind", "level", "cycle", "station_id", "due_at", "created_at", "recipients", "ack_note"]
    for kind, level, due, where in (
            ("warning", 0, RepairOrder.warn_at, sa.and_(RepairOrder.warn_at <= down_since,
                                                        RepairOrder.deadline_at > down_since)),
            ("escalation", 1, RepairOrder.deadline_at, RepairOrder.escalation_level >= 1),
            ("escalation", 2, RepairOrder.deadline_at, RepairOrder.escalation_level == 2)):
        db.session.execute(sa.insert(SlaAlert).from_select(cols, sa.select(
            RepairOrder.id, sa.literal(kind), sa.literal(level), sa.literal(0), RepairOrder.station_id, due, due,
            sa.literal(0), sa.literal("")).where(running, where)))
    db.session.commit()


@contextlib.contextmanager
def explaining(engine: sa.engine.Engine) -> Iterator[None]:
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "

    def add_prefix(conn, cursor, statement, parameters, context, executemany):
        return prefix + statement, parameters

    event.listen(engine, "before_cursor_execute", add_prefix, retval=True)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", add_prefix)


def explain(stmt: Any) -> list[str]:
    from core.extensions import db
    with explaining(db.engine):
        rows = db.session.connection().execute(stmt).cursor.fetchall()  # the plan, not the columns
    db.session.rollback()
    return [str(r[-1]) for r in rows]


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run(url: str, total: int, open_count: int, seed_value: int, down: timedelta) -> None:
    from flask_migrate import upgrade

    from core.db import set_clock
    from core.extensions import db
    from dispatch.deadlines.services import incidents, sla

    app = make_app(url)
    clock = {"now": NOW}
    set_clock(lambda: clock["now"])
    with app.app_context():
        upgrade()
        t = time.perf_counter()
        seed(total, open_count, random.Random(seed_value))
        mark_done_before(NOW - down)
        load_s = time.perf_counter() - t
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        # SQLite: no ANALYZE — the app never runs one, so the planner works from the schema alone
        print(f"\n== {db.engine.dialect.name}: {total:,} orders, {open_count:,} open (loaded in {load_s:.1f} s)")

        def tick() -> dict[str, Any]:
            out = {"warn": sla.send_deadline_warnings(), "esc": sla.escalate_overdue_orders()}
            db.session.commit()
            return out

        def detect() -> None:
            incidents.detect_incidents()
            db.session.rollback()  # measure detection only; keep the data as it was

        for label, advance in ((f"catch-up {down.total_seconds() / 60:.0f} min", timedelta(0)), ("steady (+60 s)", timedelta(seconds=60))):
            clock["now"] = NOW + advance
            due = sla.count_due(clock["now"])
            count_s = best_of(lambda: sla.count_due(clock["now"]))
            db.session.rollback()
            t = time.perf_counter()
            result = tick()
            tick_s = time.perf_counter() - t
            alerts = result["warn"]["warned"] + result["esc"]["level1"] + result["esc"]["level2"]
            print(f"{label:>15}: due {due:>6,}  COUNT {count_s * 1000:8.2f} ms   tick {tick_s * 1000:9.1f} ms   "
                  f"ratio {tick_s / count_s:8.1f}   alerts {alerts:,} "
                  f"({tick_s / max(alerts, 1) * 1000:.2f} ms each)")
        empty_s = best_of(tick, repeat=3)
        count_s = best_of(lambda: sla.count_due(clock["now"]))
        print(f"{'nothing due':>15}: COUNT {count_s * 1000:8.2f} ms   tick {empty_s * 1000:9.1f} ms   "
              f"ratio {empty_s / count_s:8.1f}")
        detect_s = best_of(detect, repeat=3)
        print(f"{'incident job':>15}: {detect_s * 1000:9.1f} ms (clusters over the open faults of the last 24 h)")
        at = clock["now"]
        from dispatch.orders.models import RepairOrder
        for name, stmt, key in (
                ("warnings", sla.due_warnings_query(at), RepairOrder.warn_at),
                ("escalations L1", sla.due_escalations_query(at, 1, timedelta(hours=4)), RepairOrder.deadline_at),
                ("escalations L2", sla.due_escalations_query(at, 2, timedelta(hours=4)), RepairOrder.deadline_at)):
            stmt = sla.page_query(stmt, key)  # what the jobs run: a page of BATCH due rows
            print(f"EXPLAIN {name} (first page):")
            for line in explain(stmt):
                print(f"    {line}")
        db.session.remove()
        db.engine.dispose()
    set_clock(None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--down-minutes", type=float, default=30,
                        help="how long no scheduler ran before the catch-up tick (default 30)")
    args = parser.parse_args()
    down = timedelta(minutes=args.down_minutes)
    if args.only != "postgres":
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/bench.db", args.orders, args.open, args.seed, down)
    pg = os.environ.get("TEST_POSTGRES_URL")
    if pg and args.only != "sqlite":
        base = sa.engine.make_url(pg)
        name = f"r24_bench_tick_{uuid.uuid4().hex[:6]}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            run(base.set(database=name).render_as_string(hide_password=False), args.orders, args.open, args.seed, down)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    elif not pg and args.only == "postgres":
        sys.exit("TEST_POSTGRES_URL is not set")


if __name__ == "__main__":
    main()
