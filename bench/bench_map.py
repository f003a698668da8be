"""The live map's cost: the GeoJSON feed against one plain SELECT, and the map page in Chromium.

For each size it seeds that many open orders over 16 stations (the demo city's 4 × 4 grid over
Shenzhen), then prints:

- feed: bytes and seconds to produce GET /api/v1/orders.geojson for the whole city (the service
  call, and the whole HTTP request through the test client), against the same rows read by one plain
  SELECT (the same columns and joins, raw DB-API cursor) serialised with the standard library's
  json.dumps (default=str) — the ratio is feed / baseline;
- a 1 % view (a bbox of about a tenth of the city each way), which the index serves;
- page: seconds in headless Chromium from navigation to the map's data-loaded attribute (all
  markers clustered and the side list drawn), against the same page with no orders (ratio), and the
  seconds for a pan to be refetched and drawn.

    .venv/bin/python bench/bench_map.py                 # 1,000 and 10,000 orders; page at 10,000 (< 2 min)
    .venv/bin/python bench/bench_map.py --full          # 1,000 / 10,000 / 50,000; page at 10,000
    .venv/bin/python bench/bench_map.py --sizes 2000 --page-size 2000 --no-browser
    .venv/bin/python bench/bench_map.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/r24_bench
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

MIN_LON, MAX_LON, MIN_LAT, MAX_LAT = 113.85, 114.35, 22.50, 22.70
PASSWORD = "bench-password-1"
CLOSED = ("resolved", "closed", "cancelled")


def make_app(url: str, instance: str):
    from app import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
                       "SCHEDULER_ENABLED": False, "TILES_URL": "", "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                       "TESTING": False})


def setup_city(app) -> dict:
    """16 stations with square areas, 3 technicians each on duty, one customer, a dispatcher."""
    from core import auth, customers, stations
    from core.extensions import db
    from dispatch.orders import services

    with app.app_context():
        services.ensure_reference_data()
        dx, dy = (MAX_LON - MIN_LON) / 4, (MAX_LAT - MIN_LAT) / 4
        techs = {}
        for k in range(16):
            lon0, lat0 = MIN_LON + (k % 4) * dx, MIN_LAT + (k // 4) * dy
            area = {"type": "Polygon", "coordinates": [[[lon0, lat0], [lon0 + dx, lat0], [lon0 + dx, lat0 + dy],
                                                        [lon0, lat0 + dy], [lon0, lat0]]]}
            st = stations.create_station(code=f"S{k + 1:02d}", name=f"Station {k + 1}", lat=lat0 + dy / 2,
                                         lon=lon0 + dx / 2, coverage=area)
            techs[st.id] = []
            for t in range(3):
                user = auth.create_user(f"tech{k + 1:02d}{t}", "technician", PASSWORD, station=st,
                                        skills=["digital_tv", "broadband", "cable_tv", "installation"])
                db.session.flush()
                services.set_duty(user, on_duty=True, shift="day")
                services.record_position(user.id, lat0 + dy * random.random(), lon0 + dx * random.random())
                techs[st.id].append(user.id)
        auth.create_user("benchdisp", "dispatcher", PASSWORD)
        cust = customers.create_customer(account_no="8800000001", name="Bench Customer", phone="13800000001",
                                         address="1 Bench Road", lat=22.6, lon=114.1, segment="residential",
                                         services=["digital_tv"])
        db.session.commit()
        return {"techs": techs, "customer_id": cust.id}


def seed_orders(app, city: dict, n: int, rng: random.Random) -> None:
    """Bring the number of open orders to n (bulk insert; closed ones are left out of the feed anyway)."""
    from core.db import now
    from core.extensions import db
    from dispatch.orders.models import Category, RepairOrder

    with app.app_context():
        have = db.session.scalar(sa.select(sa.func.count()).select_from(RepairOrder)
                                 .where(RepairOrder.status.not_in(CLOSED)))
        cats = list(db.session.execute(sa.select(Category.id, Category.kind)))
        station_ids = sorted(city["techs"])
        dx, dy = (MAX_LON - MIN_LON) / 4, (MAX_LAT - MIN_LAT) / 4
        t0 = now()
        rows = []
        for i in range(have, n):
            k = rng.randrange(16)
            lon = MIN_LON + (k % 4) * dx + rng.random() * dx
            lat = MIN_LAT + (k // 4) * dy + rng.random() * dy
            cat_id, kind = rng.choice(cats)
            reported = t0 - timedelta(hours=rng.uniform(0, 30))
            deadline = reported + timedelta(hours=24)
            tech = rng.choice(city["techs"][station_ids[k]]) if rng.random() < 0.7 else None
            rows.append({"number": f"RO-BENCH-{i:07d}", "customer_id": city["customer_id"], "kind": kind,
                         "category_id": cat_id, "priority": "normal", "channel": "hotline",
                         "description": "bench", "address": f"{i} Bench Road", "lat": lat, "lon": lon,
                         "needs_location": False, "station_id": station_ids[k], "placement_reason": "bench",
                         "technician_id": tech, "candidates": [], "status": "assigned" if tech else "new",
                         "reported_at": reported, "deadline_at": deadline, "warn_at": deadline - timedelta(hours=4),
                         "paused_seconds": 0, "escalation_level": 0, "resolution": {}, "is_repeat": False,
                         "weight": 1.0, "created_at": reported, "updated_at": reported, "version": 1})
        for start in range(0, len(rows), 5000):
            db.session.execute(sa.insert(RepairOrder), rows[start:start + 5000])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("ANALYZE repair_orders")
        else:
            with db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")


BASELINE_SQL = (
    "SELECT o.id, o.number, o.status, o.kind, o.lon, o.lat, o.deadline_at, o.warn_at, o.paused_at, "
    "s.code AS station, c.code AS category, u.username AS technician "
    "FROM repair_orders o JOIN categories c ON c.id = o.category_id "
    "LEFT JOIN stations s ON s.id = o.station_id LEFT JOIN users u ON u.id = o.technician_id "
    "WHERE o.status NOT IN ('resolved', 'closed', 'cancelled') ORDER BY o.deadline_at, o.id")


def baseline(app) -> tuple[int, float]:
    """One plain SELECT through the raw DB-API cursor, rows → dicts → json.dumps(default=str)."""
    from core.extensions import db
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            start = time.perf_counter()
            cur = raw.cursor()
            cur.execute(BASELINE_SQL)
            names = [d[0] for d in cur.description]
            body = json.dumps([dict(zip(names, r)) for r in cur.fetchall()], default=str)
            took = time.perf_counter() - start
        finally:
            raw.close()
    return len(body.encode()), took


def feed(app, bbox: str | None) -> tuple[int, float, int]:
    from core.auth import find_user
    from core.extensions import db
    from dispatch.livemap import services as map_service
    with app.app_context():
        actor = find_user("benchdisp")
        start = time.perf_counter()
        body = map_service.orders_geojson(actor, {"bbox": bbox})
        took = time.perf_counter() - start
        db.session.rollback()
    return len(body.encode()), took, json.loads(body)["count"]


def feed_http(app, client, bbox: str) -> tuple[int, float]:
    start = time.perf_counter()
    resp = client.get("/api/v1/orders.geojson", query_string={"bbox": bbox})
    took = time.perf_counter() - start
    assert resp.status_code == 200, resp.status_code
    return len(resp.data), took


def best(fn, repeats: int = 3):
    results = [fn() for _ in range(repeats)]
    return min(results, key=lambda r: r[1])


def explain(app, bbox: tuple[float, float, float, float]) -> str:
    from core.auth import find_user
    from core.extensions import db
    from dispatch.livemap import services as map_service
    with app.app_context():
        stmt = map_service.feed_query(find_user("benchdisp"), {"bbox": ",".join(map(str, bbox))})
        captured = []

        def grab(conn, cursor, statement, parameters, context, executemany):
            captured.append((statement, parameters))
        sa.event.listen(db.engine, "before_cursor_execute", grab)
        try:
            db.session.execute(stmt).all()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", grab)
        statement, params = captured[-1]
        conn = db.session.connection()
        if db.engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            plan = "; ".join(str(r[-1]) for r in rows)
        else:
            rows = conn.exec_driver_sql("EXPLAIN " + statement, params).all()
            plan = "; ".join(r[0].strip() for r in rows if "Scan" in r[0] or "Index" in r[0])
        db.session.rollback()
        return plan


class LiveServer:
    def __init__(self, app):
        from werkzeug.serving import make_server
        app.config["WTF_CSRF_ENABLED"] = True
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()


def page_load(base_url: str, expected: int, repeats: int = 3) -> tuple[float, float]:
    """(best seconds from navigation to data-loaded, seconds for a pan to be refetched and drawn)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{base_url}/login")
        page.fill("input[name=username]", "benchdisp")
        page.fill("input[name=password]", PASSWORD)
        page.get_by_test_id("login-submit").click()
        page.wait_for_load_state("load")
        page.goto(f"{base_url}/dispatch/map")  # warm caches (static files, Python imports)
        page.wait_for_selector(f'#live-map[data-state="ready"][data-loaded="{expected}"]', state="attached")
        loads = []
        for _ in range(repeats):
            start = time.perf_counter()
            page.goto(f"{base_url}/dispatch/map")
            page.wait_for_selector(f'#live-map[data-state="ready"][data-loaded="{expected}"]', state="attached")
            loads.append(time.perf_counter() - start)
        live = page.locator("#live-map")
        print(f"  last load: feed fetched and parsed in {live.get_attribute('data-fetch-ms')} ms, "
              f"markers clustered and list drawn in {live.get_attribute('data-draw-ms')} ms")
        refreshes = int(live.get_attribute("data-refreshes"))
        start = time.perf_counter()
        page.focus("#live-map .folium-map")  # Leaflet's keyboard panning: no drag inertia in the figure
        page.keyboard.press("ArrowRight")
        page.wait_for_selector(f'#live-map[data-state="ready"][data-refreshes="{refreshes + 1}"]', state="attached")
        pan = time.perf_counter() - start
        print(f"  pan: feed fetched and parsed in {live.get_attribute('data-fetch-ms')} ms, "
              f"drawn in {live.get_attribute('data-draw-ms')} ms")
        browser.close()
    return min(loads), pan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="sizes 1,000 / 10,000 / 50,000")
    parser.add_argument("--sizes", type=int, nargs="*", help="numbers of open orders for the feed")
    parser.add_argument("--page-size", type=int, default=10_000, help="open orders for the Chromium load")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument("--postgres", help="an EMPTY PostgreSQL database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    sizes = sorted(set(args.sizes or ([1_000, 10_000, 50_000] if args.full else [1_000, 10_000])))

    from flask_migrate import upgrade

    rng = random.Random(4)
    random.seed(4)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite:///{tmp}/bench.db"
        app = make_app(url, tmp)
        with app.app_context():
            upgrade()
        city = setup_city(app)
        print(f"database: {sa.make_url(url).get_backend_name()}")
        print(f"{'open orders':>11} | {'feed bytes':>11} {'base bytes':>11} {'ratio':>5} | "
              f"{'feed s':>7} {'HTTP s':>7} {'base s':>7} {'ratio':>5} | {'1% view':>7} {'s':>7}")
        client = app.test_client()
        token = client.post("/api/v1/auth/tokens", json={"username": "benchdisp", "password": PASSWORD}).get_json()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token['token']}"
        whole = f"{MIN_LON},{MIN_LAT},{MAX_LON},{MAX_LAT}"
        cx, cy = (MIN_LON + MAX_LON) / 2, (MIN_LAT + MAX_LAT) / 2
        small = (cx, cy, cx + (MAX_LON - MIN_LON) / 10, cy + (MAX_LAT - MIN_LAT) / 10)
        server = None if args.no_browser else LiveServer(app)
        base_load = page_load(server.url, 0)[0] if server else None  # the page with no orders
        for n in sizes:
            seed_orders(app, city, n, rng)
            fbytes, ftime, count = best(lambda: feed(app, whole))
            assert count == n, (count, n)
            hbytes, htime = best(lambda: feed_http(app, client, whole))
            bbytes, btime = best(lambda: baseline(app))
            vbytes, vtime, vcount = best(lambda: feed(app, ",".join(map(str, small))))
            print(f"{n:>11,} | {fbytes:>11,} {bbytes:>11,} {fbytes / bbytes:>5.2f} | "
                  f"{ftime:>7.3f} {htime:>7.3f} {btime:>7.3f} {ftime / btime:>5.2f} | {vcount:>7,} {vtime:>7.4f}")
        print(f"plan (1% view, {sizes[-1]:,} orders): {explain(app, small)}")
        if server is None:
            return
        try:
            from core.extensions import db
            from dispatch.orders.models import RepairOrder
            with app.app_context():
                db.session.execute(sa.delete(RepairOrder))
                db.session.commit()
            seed_orders(app, city, args.page_size, random.Random(5))
            load, pan = page_load(server.url, args.page_size)
            print(f"page in Chromium: {args.page_size:,} open orders {load:.2f} s from navigation to data-loaded; "
                  f"no orders {base_load:.2f} s (ratio {load / base_load:.1f}); a keyboard pan refetched "
                  f"(250 ms debounce included) and drawn in {pan:.2f} s")
        finally:
            server.close()


if __name__ == "__main__":
    main()
