"""The scorecard query over a large operator's year, against a plain COUNT(*) over the same rows.

Seeds a synthetic year of repair orders (16 stations, 8 technicians each, one customer per ~8
orders so that repeats happen; ~93 % resolved, late ones escalated, 3 % reopened, callbacks on
~65 % of resolutions), ANALYZEs, then prints for the whole year and for one month:

- kpi: seconds for the scorecard totals (dispatch.reports.services.kpis.scorecard — four aggregate
  queries: reported cohort with repeats and backlog, resolved cohort with on-time, MTTR and
  first-time fix, breaches by level, callbacks), and for the per-station and per-technician tables;
- baseline: SELECT COUNT(*) FROM repair_orders over the same period (same rows), best of 3;
- ratio = kpi / baseline;
- the plan of every scorecard query (PostgreSQL EXPLAIN / SQLite EXPLAIN QUERY PLAN) and the
  indexes it names.

    .venv/bin/python bench/bench_kpis.py                      # 200,000 orders on PostgreSQL, 100,000 on SQLite (< 2 min)
    .venv/bin/python bench/bench_kpis.py --full               # 2,500,000 orders at 7,000 a day
    .venv/bin/python bench/bench_kpis.py --orders 50000
PostgreSQL is used when TEST_POSTGRES_URL (or --postgres URL) is set: a scratch database
r24_bench_kpis_<pid> is created on that server and dropped afterwards; else a temporary SQLite file.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

STATIONS, TECHS_PER_STATION = 16, 8
START = datetime(2025, 1, 1, tzinfo=timezone.utc)
ORDER_COLUMNS = ("id", "number", "customer_id", "kind", "category_id", "priority", "channel", "description",
                 "address", "lat", "lon", "needs_location", "station_id", "placement_reason", "technician_id",
                 "candidates", "status", "reported_at", "deadline_at", "warn_at", "paused_seconds",
                 "escalation_level", "resolution", "is_repeat", "weight", "assigned_at", "resolved_at",
                 "closed_at", "created_at", "updated_at", "version")
EVENT_COLUMNS = ("order_id", "type", "at", "note", "data")
CALLBACK_COLUMNS = ("order_id", "resolved_at", "due_at", "status", "attempts", "last_attempt_at", "channel",
                    "reached", "fixed", "appointment_made", "on_time", "guided", "satisfaction", "comment",
                    "is_unhappy", "answered_at", "created_at")


def make_app(url: str, instance: str):
    from app import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
                       "SCHEDULER_ENABLED": False, "TESTING": False,
                       "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})


def setup_reference(app) -> dict:
    from core import auth, stations
    from core.extensions import db
    from dispatch.orders import services
    from dispatch.orders.models import Category

    with app.app_context():
        services.ensure_reference_data()
        techs: dict[int, list[int]] = {}
        for k in range(STATIONS):
            lon0, lat0 = 113.85 + (k % 4) * 0.125, 22.5 + (k // 4) * 0.05
            area = {"type": "Polygon", "coordinates": [[[lon0, lat0], [lon0 + 0.125, lat0], [lon0 + 0.125, lat0 + 0.05],
                                                        [lon0, lat0 + 0.05], [lon0, lat0]]]}
            st = stations.create_station(code=f"S{k + 1:02d}", name=f"Station {k + 1}", lat=lat0 + 0.025,
                                         lon=lon0 + 0.0625, coverage=area)
            techs[st.id] = [auth.create_user(f"tech{k + 1:02d}{t}", "technician", "bench-password-1", station=st).id
                            for t in range(TECHS_PER_STATION)]
        admin = auth.create_user("benchadmin", "admin", "bench-password-1")
        db.session.commit()
        cats = [(c.id, c.kind, c.weight) for c in db.session.scalars(sa.select(Category))]
        return {"techs": techs, "admin_id": admin.id, "categories": cats}


def _ts(value: datetime | None, sqlite: bool):
    if value is None:
        return None
    naive = value.astimezone(timezone.utc).replace(tzinfo=None)
    return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else naive


def generate(n: int, per_day: int, ref: dict, rng: random.Random, sqlite: bool):
    """Rows for customers, orders, events and callbacks (plain tuples, in column order)."""
    n_customers = max(1, n // 8)
    customers = [(i + 1, f"9{i + 1:09d}", f"Customer {i + 1}", f"139{i + 1:08d}", f"{i + 1} Bench Road",
                  22.6, 114.1, "", "residential", "[]", _ts(START, sqlite)) for i in range(n_customers)]
    stations = list(ref["techs"])
    faults = [c for c in ref["categories"] if c[1] == "fault"]
    installs = [c for c in ref["categories"] if c[1] == "installation"]
    orders, events, callbacks = [], [], []
    for i in range(n):
        oid = i + 1
        reported = START + timedelta(days=i // per_day, seconds=rng.randrange(86400))
        cat_id, kind, weight = rng.choice(installs) if rng.random() < 0.1 else rng.choice(faults)
        hours = 72 if kind == "installation" else 24
        deadline = reported + timedelta(hours=hours)
        station = rng.choice(stations)
        tech = rng.choice(ref["techs"][station])
        roll = rng.random()
        resolved = closed = None
        paused = 0
        level = 0
        if roll < 0.93:
            paused = rng.choice((0, 0, 0, 0, 0, 0, 0, 3600, 7200, 14400))
            deadline += timedelta(seconds=paused)
            resolved = reported + timedelta(seconds=paused + int(rng.lognormvariate(9.9, 0.7)))
            status = "closed" if rng.random() < 0.8 else "resolved"
            closed = resolved + timedelta(hours=rng.randrange(1, 48)) if status == "closed" else None
            if resolved > deadline:
                level = min(3, 1 + int((resolved - deadline).total_seconds() // (4 * 3600)))
        elif roll < 0.99:
            status = rng.choice(("assigned", "accepted", "on_site", "waiting_parts"))
        else:
            status, tech, station = "new", None, station
        is_repeat = resolved is not None and rng.random() < 0.03
        orders.append((oid, f"RO-B{oid:09d}", rng.randrange(1, n_customers + 1), kind, cat_id, "normal", "hotline",
                       "bench", "", 22.6, 114.1, False, station, "", tech, "[]", status, _ts(reported, sqlite),
                       _ts(deadline, sqlite), _ts(deadline - timedelta(hours=4), sqlite), paused, level, "{}",
                       is_repeat, weight, _ts(reported, sqlite), _ts(resolved, sqlite), _ts(closed, sqlite),
                       _ts(reported, sqlite), _ts(resolved or reported, sqlite), 1))
        for lvl in range(1, level + 1):
            events.append((oid, "escalated", _ts(deadline + timedelta(hours=4 * (lvl - 1)), sqlite), "",
                           f'{{"level": {lvl}}}'))
        if is_repeat:
            events.append((oid, "reopened", _ts(resolved - timedelta(hours=1), sqlite), "", "{}"))
        if resolved is not None and rng.random() < 0.7:
            call_at = resolved + timedelta(hours=rng.randrange(1, 40))
            if rng.random() < 0.07:
                callbacks.append((oid, _ts(resolved, sqlite), _ts(resolved + timedelta(hours=48), sqlite),
                                  "unreachable", 3, _ts(call_at, sqlite), "phone", False, None, None, None, None,
                                  None, "", False, None, _ts(call_at, sqlite)))
            else:
                sat = rng.choice((1, 2, 3, 4, 4, 5, 5, 5))
                fixed = rng.random() < 0.92
                callbacks.append((oid, _ts(resolved, sqlite), _ts(resolved + timedelta(hours=48), sqlite),
                                  "answered", 1, _ts(call_at, sqlite), "phone", True, fixed, rng.random() < 0.8,
                                  rng.random() < 0.85, rng.random() < 0.6, sat, "", (not fixed) or sat <= 2,
                                  _ts(call_at, sqlite), _ts(call_at, sqlite)))
    return customers, orders, events, callbacks


def load(app, rows, sqlite: bool) -> None:
    from core.extensions import db
    customers, orders, events, callbacks = rows
    tables = (("customers", ("id", "account_no", "name", "phone", "address", "lat", "lon", "district", "segment",
                             "services", "created_at"), customers),
              ("repair_orders", ORDER_COLUMNS, orders), ("order_events", EVENT_COLUMNS, events),
              ("callbacks", CALLBACK_COLUMNS, callbacks))
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            for table, cols, data in tables:
                if sqlite:
                    marks = ", ".join("?" for _ in cols)
                    cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", data)
                else:
                    with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                        for row in data:
                            copy.write_row(row)
            if not sqlite:
                cur.execute("SELECT setval('repair_orders_id_seq', (SELECT max(id) FROM repair_orders))")
            raw.commit()
            cur.execute("ANALYZE")
            raw.commit()
        finally:
            raw.close()


def best_of(fn, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


INDEX_RE = re.compile(r"(?:Index(?: Only)? Scan(?: Backward)? using|Bitmap Index Scan on|USING (?:COVERING )?INDEX)"
                      r" (\w+)")


def explain(app, statements: list[tuple[str, object]], sqlite: bool) -> None:
    from core.extensions import db
    with app.app_context():
        conn = db.session.connection()
        for n, (sql, params) in enumerate(statements, 1):
            prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN "
            rows = conn.exec_driver_sql(prefix + sql, params).all()
            lines = [" | ".join(str(c) for c in r[-1:]) if sqlite else r[0] for r in rows]
            used = sorted(set(INDEX_RE.findall("\n".join(lines))))
            print(f"\n  query {n}: indexes used: {', '.join(used) or '(none: sequential scans)'}")
            for line in lines[:40]:
                print(f"    {line}")
            if len(lines) > 40:
                print(f"    ... ({len(lines) - 40} more plan lines)")
        db.session.rollback()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=None,
                        help="default 200,000 on PostgreSQL, 100,000 on SQLite (to stay under two minutes)")
    parser.add_argument("--per-day", type=int, default=None, help="orders a day (default: spread over a year)")
    parser.add_argument("--full", action="store_true", help="2,500,000 orders at 7,000 a day")
    parser.add_argument("--postgres", default=os.environ.get("TEST_POSTGRES_URL"))
    parser.add_argument("--sqlite", action="store_true", help="use SQLite even if TEST_POSTGRES_URL is set")
    parser.add_argument("--no-plans", action="store_true")
    parser.add_argument("--plans-for", choices=("year", "month"), default="year")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL scratch database (prints its URL)")
    parser.add_argument("--reuse", metavar="URL", help="measure a database seeded by an earlier --keep run")
    args = parser.parse_args()
    if args.full:
        args.orders, args.per_day = 2_500_000, 7_000
    if args.orders is None:
        args.orders = 200_000 if (args.postgres and not args.sqlite) else 100_000
    per_day = args.per_day or max(1, -(-args.orders // 365))
    tmp = tempfile.TemporaryDirectory()
    admin_engine, db_name = None, None
    if args.reuse:
        run(args.reuse, args.reuse.startswith("sqlite"), 0, per_day, tmp.name,
            None if args.no_plans else args.plans_for)
        tmp.cleanup()
        return
    if args.postgres and not args.sqlite:
        base = make_url(args.postgres)
        db_name = f"r24_bench_kpis_{os.getpid()}"
        admin_engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
        url = base.set(database=db_name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp.name}/bench.db"
    sqlite = url.startswith("sqlite")
    try:
        run(url, sqlite, args.orders, per_day, tmp.name, None if args.no_plans else args.plans_for)
    finally:
        if admin_engine is not None and args.keep:
            print(f"kept: {url}")
        elif admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            admin_engine.dispose()
        tmp.cleanup()


def run(url: str, sqlite: bool, n: int, per_day: int, instance: str, plans: str | None) -> None:
    from flask_migrate import upgrade

    from core.auth import get_user
    from core.db import set_clock
    from core.extensions import db
    from dispatch.reports.services import kpis

    app = make_app(url, instance)
    if n:
        with app.app_context():
            upgrade()
        print(f"database: {'SQLite' if sqlite else 'PostgreSQL'}; {n:,} orders at {per_day:,} a day")
        t0 = time.perf_counter()
        ref = setup_reference(app)
        rows = generate(n, per_day, ref, random.Random(9), sqlite)
        t_gen = time.perf_counter() - t0
        load(app, rows, sqlite)
        print(f"seeded in {time.perf_counter() - t0:.1f} s (generate {t_gen:.1f} s): {len(rows[1]):,} orders, "
              f"{len(rows[2]):,} events, {len(rows[3]):,} callbacks, {len(rows[0]):,} customers")
        last = START + timedelta(days=(n - 1) // per_day)
    else:  # --reuse
        from core.extensions import db as _db
        with app.app_context():
            ref = {"admin_id": _db.session.scalar(sa.text("SELECT id FROM users WHERE username = 'benchadmin'"))}
            newest, total = _db.session.execute(sa.text("SELECT max(reported_at), count(*) FROM repair_orders")).one()
        newest = newest if isinstance(newest, datetime) else datetime.fromisoformat(str(newest))
        last = datetime.combine(newest.date(), datetime.min.time(), timezone.utc)
        print(f"database: {'SQLite' if sqlite else 'PostgreSQL'} (reused); {total:,} orders")
    set_clock(lambda: last + timedelta(days=1))
    with app.app_context():
        admin = get_user(ref["admin_id"])
        zone_days = [("year", START.date().isoformat(), last.date().isoformat()),
                     ("month", (last - timedelta(days=29)).date().isoformat(), last.date().isoformat())]
        captured: list[tuple[str, object]] = []
        for label, frm, to in zone_days:
            period = kpis.parse_period(frm, to)
            f = kpis.resolve_filters(admin)
            count_sql = sa.select(sa.func.count()).select_from(sa.table("repair_orders", sa.column("reported_at"))) \
                .where(sa.column("reported_at") >= period.start, sa.column("reported_at") < period.end)
            counted = db.session.scalar(count_sql)
            baseline = best_of(lambda: db.session.scalar(count_sql))
            total_card: list = []

            def totals():
                total_card[:] = kpis.scorecard(admin, period, f, None)
            t_total = best_of(totals, 2)
            t_station = best_of(lambda: kpis.scorecard(admin, period, f, "station"), 1)
            t_tech = best_of(lambda: kpis.scorecard(admin, period, f, "technician"), 1)
            c = total_card[0]
            print(f"\n{label} {frm}..{to}: {counted:,} orders reported; COUNT(*) {baseline * 1000:.1f} ms")
            print(f"  totals     {t_total:7.3f} s  ratio {t_total / baseline:8.1f}×  "
                  f"(orders {c['orders']:,}, resolved {c['resolved']:,}, on time {c['on_time_rate']}, "
                  f"MTTR {c['mttr_hours']} h, FTF {c['first_time_fix_rate']}, repeat {c['repeat_rate']}, "
                  f"breaches {c['breaches_by_level']}, satisfaction {c['satisfaction_avg']})")
            print(f"  by station {t_station:7.3f} s  ratio {t_station / baseline:8.1f}×")
            print(f"  by tech    {t_tech:7.3f} s  ratio {t_tech / baseline:8.1f}×")
            if label == plans:
                from sqlalchemy import event

                def grab(_conn, _cursor, statement, parameters, _context, _many):
                    captured.append((statement, parameters))
                event.listen(db.engine, "before_cursor_execute", grab)
                kpis.scorecard(admin, period, f, None)
                event.remove(db.engine, "before_cursor_execute", grab)
        db.session.rollback()
    set_clock(None)
    if plans:
        print(f"\nplans of the scorecard's queries ({plans}, totals):")
        explain(app, [(s, p) for s, p in captured if "count(" in s.lower() or "sum(" in s.lower()], sqlite)
    with app.app_context():
        db.engine.dispose()


if __name__ == "__main__":
    main()
