"""Alert latency: from the commit of a new job to the push service's receipt.

--alerts repair orders (100) are created through `POST /api/v1/orders`, one request — one
commit — every --gap seconds; each is assigned at once to an on-duty technician whose phone
is subscribed to a local push service (tests/field/pushservice.py: real aes128gcm and VAPID,
every message decrypted and verified). The moment of each commit (taken right after it, by
`core.outbox.on_alerts_committed`) is compared with the moment the push service received that
order's alert. p50 / p95 / max for two process models:

- process: a `flask worker` process of its own (production), woken across processes —
  LISTEN/NOTIFY on PostgreSQL, `PRAGMA data_version` polling (0.5 s) on SQLite;
- thread: the worker inside the serving process (`make run`, SCHEDULER_ENABLED), woken by the
  commit itself.

The worker's tick interval is an hour here, so only the wake-up explains a delivery. Before
it, an alert waited for the next tick: uniformly over SCHEDULER_INTERVAL_SECONDS (60 s: p50
30 s, p95 57 s), behind escalations and incident detection. Goal: p95 <= 2 s.

    .venv/bin/python bench/bench_alert_latency.py [--alerts 100] [--gap 0.05] [--only sqlite|postgres]
    TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test .venv/bin/python bench/bench_alert_latency.py
      (PostgreSQL too, in a throwaway database)
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "field")]

TECHNICIANS = 10
PASSWORD = "bench-password"


def config(url: str, instance: str, origins: list[str]) -> dict:
    return {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "INSTANCE_PATH": instance,
            "SCHEDULER_ENABLED": False, "SCHEDULER_INTERVAL_SECONDS": 3600, "PUSH_ALLOWED_ORIGINS": origins,
            "PUBLIC_BASE_URL": "http://127.0.0.1:5000", "GEOCODER_DOMAIN": "", "WTF_CSRF_ENABLED": False,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"}


def worker_app():
    """The app of the `flask --app bench/bench_alert_latency.py:worker_app worker` process."""
    from app import create_app
    return create_app(config(os.environ["R24_BENCH_DB"], os.environ["R24_BENCH_INSTANCE"],
                             json.loads(os.environ["R24_BENCH_ORIGINS"])))


def _dispatch_services():
    from dispatch.orders import services
    return services


def setup(app, service) -> tuple[int, list[int]]:
    """A station, on-duty technicians with a subscribed phone each, customers; returns (dispatcher, customers)."""
    from flask_migrate import upgrade

    from core import auth, customers, stations
    from core.extensions import db
    from field import services as field_services

    square = {"type": "Polygon", "coordinates": [[[114.0, 22.5], [114.02, 22.5], [114.02, 22.52], [114.0, 22.52],
                                                  [114.0, 22.5]]]}
    dispatch = _dispatch_services()
    with app.app_context():
        upgrade()
        dispatch.ensure_reference_data()
        st = stations.create_station(code="B01", name="Bench", lat=22.51, lon=114.01, coverage=square)
        for i in range(TECHNICIANS):
            tech = auth.create_user(f"bench-tech-{i}", "technician", PASSWORD, station=st,
                                    skills=["digital_tv", "cable_tv", "broadband"])
            db.session.flush()
            dispatch.set_duty(tech, on_duty=True, shift="day")
            field_services.subscribe(tech, service.subscribe().subscription())
        dispatcher = auth.create_user("bench-dispatch", "dispatcher", PASSWORD)
        custs = [customers.create_customer(account_no=f"B{i:07d}", name=f"Bench {i}", phone="13800000000",
                                           address=f"{i} Bench Road", lat=22.505 + i * 1e-4, lon=114.005)
                 for i in range(20)]
        db.session.commit()
        return dispatcher.id, [c.id for c in custs]


def create_orders(app, customer_ids: list[int], n: int, gap: float) -> dict[int, float]:
    """n new jobs through the API, one commit each; returns {order id: time.time() of its commit}."""
    from core import outbox

    commits: list[float] = []

    def committed() -> None:
        commits.append(time.time())
    client = app.test_client()
    token = client.post("/api/v1/auth/tokens", json={"username": "bench-dispatch", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    outbox.on_alerts_committed(committed)
    at: dict[int, float] = {}
    try:
        for i in range(n):
            before = len(commits)
            resp = client.post("/api/v1/orders", headers=headers, json={
                "customer_id": customer_ids[i % len(customer_ids)], "category": "DTV-MOSAIC",
                "description": "Picture breaks up", "channel": "hotline"})
            assert resp.status_code == 201, resp.get_json()
            assert len(commits) == before + 1, "one commit with alerts per new job"
            at[resp.get_json()["id"]] = commits[-1]
            time.sleep(gap)
    finally:
        outbox.remove_alerts_committed(committed)
    return at


def latencies(service, committed: dict[int, float], timeout: float = 120.0) -> list[float]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = {m.payload["order"]: m.at for m in service.received(accepted=True) if m.payload.get("order") in committed}
        if len(got) == len(committed):
            break
        time.sleep(0.05)
    return [got[o] - committed[o] for o in committed if o in got]


def report(label: str, values: list[float], expected: int) -> bool:
    if len(values) < 2:
        print(f"  {label:<8} only {len(values)} of {expected} alerts arrived")
        return False
    q = statistics.quantiles(values, n=100, method="inclusive")
    p50, p95 = q[49], q[94]
    print(f"  {label:<8} {len(values)}/{expected} alerts   p50 {p50 * 1000:6.0f} ms   p95 {p95 * 1000:6.0f} ms   "
          f"max {max(values) * 1000:6.0f} ms   {'ok' if p95 <= 2.0 else 'OVER'} (goal p95 <= 2 s)")
    return len(values) == expected and p95 <= 2.0


def spawn_worker(url: str, instance: str, origin: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "R24_BENCH_DB": url, "R24_BENCH_INSTANCE": instance,
           "R24_BENCH_ORIGINS": json.dumps([origin])}
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", f"{Path(__file__).resolve()}:worker_app",
                             "worker"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # "worker ready: ..." once its first tick ran and it listens
    if not line.startswith("worker ready"):
        proc.kill()
        sys.exit(f"the worker did not start: {line!r}")
    return proc


def run(url: str, alerts: int, gap: float) -> bool:
    from app import create_app
    from core.extensions import db
    from core.worker import Worker
    from pushservice import PushService

    service = PushService()
    ok = True
    with tempfile.TemporaryDirectory() as instance:
        app = create_app(config(url, instance, [service.origin]))
        _, customer_ids = setup(app, service)
        with app.app_context():
            from field import push
            push.vapid()  # the key exists before the worker process starts (same instance folder)
        print(f"{app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}: {alerts} new-job alerts, "
              f"one commit every {gap:g} s, {TECHNICIANS} technicians' phones, tick every hour")

        proc = spawn_worker(url, instance, service.origin)
        try:
            latencies(service, create_orders(app, customer_ids, 3, gap))  # warm-up: connections, imports, key
            ok &= report("process", latencies(service, create_orders(app, customer_ids, alerts, gap)), alerts)
        finally:
            proc.terminate()
            proc.wait(30)

        worker = Worker(app)  # what SCHEDULER_ENABLED starts in the serving process
        worker.start()
        try:
            worker.wait_ready(60)
            ok &= report("thread", latencies(service, create_orders(app, customer_ids, alerts, gap)), alerts)
        finally:
            worker.stop()
        if service.errors:
            print(f"  push service refused {len(service.errors)}: {service.errors[:3]}")
            ok = False
        with app.app_context():
            db.engine.dispose()
    service.close()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--alerts", type=int, default=100)
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between two new jobs (default 0.05)")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    ok = True
    if args.only != "postgres":
        with tempfile.TemporaryDirectory() as tmp:
            ok &= run(f"sqlite:///{tmp}/bench.db", args.alerts, args.gap)
    pg = os.environ.get("TEST_POSTGRES_URL")
    if pg and args.only != "sqlite":
        import sqlalchemy as sa
        base = sa.engine.make_url(pg)
        name = f"r24_bench_latency_{uuid.uuid4().hex[:6]}"
        admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            ok &= run(base.set(database=name).render_as_string(hide_password=False), args.alerts, args.gap)
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    elif args.only == "postgres":
        sys.exit("TEST_POSTGRES_URL is not set")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
