"""Web Push delivery throughput: the outbox job against a bare pywebpush loop.

Both sides encrypt (aes128gcm), sign a fresh VAPID JWT and POST every message to the same
local push service (tests/field/pushservice.py), which runs in its own process and
decrypts and verifies every message like a real one. Figures:

- messages per CPU-second of the sending process (= per core; the service's work is in
  the other process) and per wall-clock second, for `deliver_due()` — claim, send, record
  a PushDelivery per device, settle, commit — and for a bare `pywebpush.webpush` loop;
  the ratio job/bare (target >= 0.8);
- the time to drain a queue of N alerts (10,000 with --full).

    .venv/bin/python bench/bench_push.py [--full] [--messages N] [--drain N] [--database URL]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "field")]


def serve(conn, devices: int) -> None:
    """The push service process: hand out subscriptions, serve until told to stop, report."""
    from pushservice import PushService
    service = PushService()
    conn.send((service.origin, [service.subscribe().subscription() for _ in range(devices)]))
    while True:
        cmd = conn.recv()
        if cmd == "count":
            conn.send((len(service.received(accepted=True)), len(service.errors), service.errors[:3]))
        elif cmd == "stop":
            service.close()
            return


class Service:
    def __init__(self, devices: int) -> None:
        self.conn, child = mp.Pipe()
        self.proc = mp.Process(target=serve, args=(child, devices), daemon=True)
        self.proc.start()
        self.origin, self.subscriptions = self.conn.recv()

    def count(self) -> tuple[int, int, list[str]]:
        self.conn.send("count")
        return self.conn.recv()

    def stop(self) -> None:
        self.conn.send("stop")
        self.proc.join(10)


def make_app(database: str | None, instance: str, origin: str):
    from app import create_app
    return create_app({"SQLALCHEMY_DATABASE_URI": database or f"sqlite:///{instance}/bench.db",
                       "SECRET_KEY": "bench", "INSTANCE_PATH": instance, "SCHEDULER_ENABLED": False,
                       "PUSH_ALLOWED_ORIGINS": [origin], "TESTING": True})


def setup_recipients(app, subscriptions: list[dict]) -> list[int]:
    from core.extensions import db
    from field import services
    from flask_migrate import upgrade
    with app.app_context():
        upgrade()
        ids = []
        for i, sub in enumerate(subscriptions):
            user = _plain_user(i)
            services.subscribe(user, sub)
            ids.append(user.id)
        db.session.commit()
        return ids


def _plain_user(i: int):
    """A recipient (role and station do not matter to delivery)."""
    from core import auth
    from core.extensions import db
    user = auth.User(username=f"bench-{i}", role="dispatcher", password_hash="x", full_name=f"Bench {i}")
    db.session.add(user)
    db.session.flush()
    return user


def enqueue(app, user_ids: list[int], n: int, start: int) -> None:
    from core import auth, outbox
    from core.extensions import db
    with app.app_context():
        users = [db.session.get(auth.User, uid) for uid in user_ids]
        for i in range(start, start + n):
            outbox.enqueue("assigned", users[i % len(users)], cause=f"bench:{i}", title=f"Order R{i:06d} assigned to you",
                           body="Futian district, fault: no signal on the set-top box", url=f"/field/orders/{i}",
                           order_id=i, urgency="high")
        db.session.commit()


def run_job(app, max_alerts: int | None = None) -> tuple[dict, float, float]:
    from field import push
    with app.app_context():
        push.vapid()  # key loaded before timing, as in a running worker
        w, c = time.perf_counter(), time.process_time()
        stats = push.deliver_due(max_alerts=max_alerts)
        return stats, time.perf_counter() - w, time.process_time() - c


def run_bare(app, subscriptions: list[dict], n: int) -> tuple[float, float]:
    """The baseline: pywebpush.webpush per message with the same key, payload size, headers and session."""
    import requests
    from pywebpush import webpush
    from field import push
    with app.app_context():
        signer, subject = push.vapid(), app.config["VAPID_SUBJECT"]
    data = json.dumps({"type": "assigned", "title": "Order R000000 assigned to you",
                       "body": "Futian district, fault: no signal on the set-top box", "url": "/field/orders/0",
                       "order": 0, "tag": "order-0"}, separators=(",", ":"))
    with requests.Session() as http:
        w, c = time.perf_counter(), time.process_time()
        for i in range(n):
            webpush(subscriptions[i % len(subscriptions)], data, vapid_private_key=signer,
                    vapid_claims={"sub": subject}, ttl=86400, timeout=10, requests_session=http,
                    headers={"Urgency": "high", "Topic": f"order-{i}"})
        return time.perf_counter() - w, time.process_time() - c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="drain 10,000 alerts")
    parser.add_argument("--messages", type=int, default=500, help="messages per side of the comparison")
    parser.add_argument("--drain", type=int, default=None, help="alerts to drain (default 2,000; 10,000 with --full)")
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default=None, help="SQLAlchemy URL of an EMPTY database (default: SQLite file)")
    args = parser.parse_args()
    drain = args.drain or (10_000 if args.full else 2_000)

    service = Service(args.devices)
    with tempfile.TemporaryDirectory() as instance:
        app = make_app(args.database, instance, service.origin)
        users = setup_recipients(app, service.subscriptions)

        # warm-up (connections, imports, key) on both sides
        enqueue(app, users, 20, 0)
        run_job(app)
        run_bare(app, service.subscriptions, 20)

        # alternate the two sides and keep each one's best round: the machine may be shared
        n, job, bare = args.messages, [], []
        for r in range(args.rounds):
            enqueue(app, users, n, 1_000_000 + r * n)
            stats, wall, cpu = run_job(app)
            assert stats.get("sent") == n, stats
            job.append((cpu, wall))
            bare.append(run_bare(app, service.subscriptions, n)[::-1])
        (job_cpu, job_wall), (bare_cpu, bare_wall) = min(job), min(bare)
        print(f"comparison: {n} messages per side, best of {args.rounds} rounds, {args.devices} devices, "
              f"{app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]}")
        print(f"  delivery job : {n / job_cpu:8.0f} msg per CPU-second   {n / job_wall:8.0f} msg/s wall")
        print(f"  bare webpush : {n / bare_cpu:8.0f} msg per CPU-second   {n / bare_wall:8.0f} msg/s wall")
        print(f"  ratio job/bare: {bare_cpu / job_cpu:.2f} per core (target >= 0.8), "
              f"{bare_wall / job_wall:.2f} wall")

        enqueue(app, users, drain, 2_000_000)
        stats, wall, cpu = run_job(app)
        assert stats.get("sent") == drain, stats
        print(f"drain: {drain} queued alerts in {wall:.1f} s ({drain / wall:.0f} msg/s, {cpu:.1f} CPU-s in the worker)")

        accepted, errors, sample = service.count()
        expected = 20 + 20 + 2 * n * args.rounds + drain
        print(f"push service: {accepted} accepted of {expected} sent, {errors} refused {sample or ''}")
        with app.app_context():
            from core.extensions import db
            db.engine.dispose()
    service.stop()
    if accepted != expected or errors:
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
