"""Faults under load: concurrent writers against gunicorn + `flask worker` on a private
PostgreSQL cluster while web workers and job workers are killed with SIGKILL and PostgreSQL is
restarted; then every answer the writers got is checked against the database.

    .venv/bin/python bench/load/chaos.py                  # 3 kills of each kind, 1 PG restart, ~60 s of load
    .venv/bin/python bench/load/chaos.py --seconds 120 --kills 3

tests/chaos/test_faults.py runs the CI-sized version (one kill of each, one restart).

What the writers do, each write with its own Idempotency-Key and retried with the same key
and body after a transport error, a 503 or a 409 idempotency_in_progress (as a client should):
intake (POST /orders), technicians' transitions (accept, depart, arrive), stock keepers'
transfers (POST /stock/moves, qty 1, reason naming the key).

What is checked afterwards (`check`):
- every acknowledged (2xx) write is in the database exactly once (orders by their description,
  transitions by their order event, stock moves by their reason);
- no write refused with a 4xx (other than the retryable ones) is in the database;
- a write whose outcome the client never learned is there at most once;
- ledger = levels (inventory's verify_ledger); no alert key twice; each acknowledged order's
  assignment alerted once; no SLA alert (escalation) twice for one (order, kind, level, cycle);
- no 500 anywhere; every non-2xx answer is JSON {"error": ...}; 503s carry Retry-After.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))  # the app, for the checks

from stack import ROOT, PrivateCluster, Stack, create_database  # noqa: E402

PASSWORD = "restore24"
MARK = "chaos-"  # in every description and reason the writers send
RETRYABLE_CODES = ("unavailable", "idempotency_in_progress")
NEXT = {"assigned": "accept", "accepted": "depart", "en_route": "arrive"}
STATIONS = ("S01", "S02")
EVENT_OF = {"accept": "accepted", "depart": "departed", "arrive": "arrived"}


@dataclass
class Attempt:
    status: int | None  # None: no answer (connection refused/reset, timeout)
    body: Any
    headers: dict[str, str]
    error: str = ""


@dataclass
class Write:
    kind: str  # order, transition, move
    key: str
    path: str
    body: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def acked(self) -> Attempt | None:
        return next((a for a in self.attempts if a.status is not None and 200 <= a.status < 300), None)

    @property
    def refused(self) -> bool:
        """Told no (a 4xx that is not 'try again') and never told yes."""
        last = self.attempts[-1] if self.attempts else None
        return (self.acked is None and last is not None and last.status is not None and 400 <= last.status < 500
                and _code(last) not in RETRYABLE_CODES)


def _code(a: Attempt) -> str:
    return (a.body.get("error") or {}).get("code", "") if isinstance(a.body, dict) else ""


class Client:
    def __init__(self, base: str, token: str | None = None):
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: Any = None, key: str | None = None,
             timeout: float = 15) -> Attempt:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        if key:
            req.add_header("Idempotency-Key", key)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Attempt(resp.status, _json(resp.read()), dict(resp.headers))
        except urllib.error.HTTPError as err:
            return Attempt(err.code, _json(err.read()), dict(err.headers))
        except (urllib.error.URLError, OSError, ConnectionError) as err:  # killed worker, restarting
            return Attempt(None, None, {}, error=type(err).__name__)

    def write(self, w: Write, tries: int = 40) -> Write:
        for _ in range(tries):
            a = self.call("POST", w.path, w.body, key=w.key)
            w.attempts.append(a)
            if a.status is not None and (a.status < 400 or (a.status < 500 and _code(a) not in RETRYABLE_CODES)):
                break
            time.sleep(0.25 + random.random() * 0.25)
        return w

    @classmethod
    def login(cls, base: str, username: str) -> "Client":
        for _ in range(60):
            a = cls(base).call("POST", "/api/v1/auth/tokens", {"username": username, "password": PASSWORD})
            if a.status == 201:
                return cls(base, a.body["token"])
            time.sleep(0.5)
        raise RuntimeError(f"cannot log in {username}: {a}")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")[:300]


class Load:
    """Writer threads; every call they make is kept in `writes` (and reads in `reads`)."""

    def __init__(self, base: str, intake: int = 3, keepers: int = 1):
        self.base = base
        self.stop = threading.Event()
        self.writes: list[Write] = []
        self.reads: list[Attempt] = []
        self.lock = threading.Lock()
        self.plan = [("dispatch-1", self.intake)] * intake
        # orders go to the on-duty technicians of the station they fall in: take them at S01-S02,
        # and work them as each of those stations' technicians (those off duty get none)
        self.stations = STATIONS
        self.plan += [(f"tech-{st.lower()}-{n}", self.technician) for st in STATIONS for n in (1, 2, 3)]
        self.plan += [("stock-futian", self.keeper)] * keepers
        self.threads: list[threading.Thread] = []

    def start(self) -> "Load":
        for username, loop in self.plan:
            client = Client.login(self.base, username)
            t = threading.Thread(target=self._guard, args=(loop, client, username), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(120)

    def _guard(self, loop, client: Client, username: str) -> None:
        rng = random.Random(username + str(id(client)))
        loop(client, username, rng)

    def _keep(self, w: Write) -> None:
        with self.lock:
            self.writes.append(w)

    def _read(self, client: Client, path: str) -> Any:
        for _ in range(40):
            a = client.call("GET", path)
            with self.lock:
                self.reads.append(a)
            if a.status == 200:
                return a.body
            time.sleep(0.3)
        return None

    def intake(self, client: Client, _username: str, rng: random.Random) -> None:
        stations = [st for st in (self._read(client, "/api/v1/stations") or {}).get("items", [])
                    if st["code"] in self.stations]
        cats = [c["code"] for c in (self._read(client, "/api/v1/categories") or {}).get("items", [])
                if c.get("kind") == "fault"]
        while not self.stop.is_set():
            st, key = rng.choice(stations), uuid.uuid4().hex
            body = {"customer": {"name": "Chaos caller", "phone": f"137{rng.randrange(10**8):08d}",
                                 "address": f"{rng.randrange(1, 900)} Chaos Road"},
                    "lat": st["lat"] + rng.uniform(-0.001, 0.001), "lon": st["lon"] + rng.uniform(-0.001, 0.001),
                    "kind": "fault", "category": rng.choice(cats), "channel": "hotline",
                    "description": f"{MARK}{key}"}
            if rng.random() < 0.3:  # reported a day or two ago: past its deadline, so the ticks escalate it
                body["reported_at"] = (datetime.now(timezone.utc) - timedelta(hours=rng.uniform(20, 60))).isoformat()
            self._keep(client.write(Write("order", key, "/api/v1/orders", body)))
            time.sleep(rng.uniform(0.05, 0.2))

    def technician(self, client: Client, username: str, rng: random.Random) -> None:
        while not self.stop.is_set():
            jobs = (self._read(client, f"/api/v1/orders?technician={username}&per_page=50") or {}).get("items", [])
            todo = [j for j in jobs if j.get("status") in NEXT]
            if not todo:
                time.sleep(0.5)
                continue
            job = rng.choice(todo)
            action, key = NEXT[job["status"]], uuid.uuid4().hex
            w = Write("transition", key, f"/api/v1/orders/{job['id']}/transitions",
                      {"action": action, "note": f"{MARK}{key}"}, meta={"order": job["id"], "action": action})
            self._keep(client.write(w))
            time.sleep(rng.uniform(0.1, 0.3))

    def keeper(self, client: Client, _username: str, rng: random.Random) -> None:
        stores = [x["code"] for x in (self._read(client, "/api/v1/locations?kind=store&per_page=100") or {})
                  .get("items", [])]
        vans = (self._read(client, "/api/v1/locations?kind=van&per_page=100") or {}).get("items", [])
        # a keeper sees the levels of their own stations only
        stores = [st for st in stores if (self._read(client, f"/api/v1/stock?location={st}") or {}).get("items")]
        while not self.stop.is_set() and stores and vans:
            store = rng.choice(stores)
            levels = (self._read(client, f"/api/v1/stock?location={store}") or {}).get("items", [])
            mine = [v["code"] for v in vans if v.get("station") == store]
            stocked = [lv for lv in levels if lv["qty"] > 0]
            if not stocked or not mine:
                time.sleep(0.2)
                continue
            line, van, key = rng.choice(stocked), rng.choice(mine), uuid.uuid4().hex
            src, dst = (store, van) if rng.random() < 0.7 else (van, store)
            body = {"type": "transfer", "sku": line["sku"], "qty": 1, "from": src, "to": dst,
                    "reason": f"{MARK}{key}"}
            self._keep(client.write(Write("move", key, "/api/v1/stock/moves", body)))
            time.sleep(rng.uniform(0.1, 0.3))


def check(database_url: str, load: Load) -> tuple[dict[str, Any], list[str]]:
    """Compare what the writers were told with what the database holds. Returns (figures, problems)."""
    import sqlalchemy as sa

    from app import create_app
    from core.extensions import db
    from inventory.services.reports import verify_ledger

    problems: list[str] = []
    figures: Counter = Counter()
    answers = [a for w in load.writes for a in w.attempts] + load.reads
    for a in answers:
        figures["answers"] += 1
        if a.status is None:
            figures["no answer (killed/restarting)"] += 1
            continue
        figures[f"http {a.status}"] += 1
        if a.status >= 500 and a.status != 503:
            problems.append(f"a {a.status}: {str(a.body)[:200]}")
        if a.status >= 400 and not (isinstance(a.body, dict) and "error" in a.body):
            problems.append(f"a {a.status} that is not JSON {{'error'}}: {str(a.body)[:200]}")
        if a.status == 503 and "Retry-After" not in a.headers:
            problems.append("a 503 without Retry-After")

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "chaos-check",
                      "SCHEDULER_ENABLED": False, "INSTANCE_PATH": str(ROOT / "instance")})
    with app.app_context():
        q = lambda sql, **kw: db.session.execute(sa.text(sql), kw).all()  # noqa: E731
        orders = Counter(d for (d,) in q("SELECT description FROM repair_orders WHERE description LIKE 'chaos-%'"))
        moves = Counter(r for (r,) in q("SELECT reason FROM inventory_stock_moves WHERE reason LIKE 'chaos-%'"))
        events = Counter((o, t) for o, t in q("SELECT order_id, type FROM order_events WHERE note LIKE 'chaos-%'"))
        notes = Counter(n for (n,) in q("SELECT note FROM order_events WHERE note LIKE 'chaos-%'"))
        for w in load.writes:
            figures[f"{w.kind} writes"] += 1
            tag = f"{MARK}{w.key}"
            present = {"order": orders, "move": moves, "transition": notes}[w.kind][tag]
            if w.acked:
                figures[f"{w.kind} acknowledged"] += 1
                if present != 1:
                    problems.append(f"acknowledged {w.kind} {w.key} is in the database {present} times")
                if len(w.attempts) > 1:
                    figures[f"{w.kind} acknowledged after a retry"] += 1
            elif w.refused:
                figures[f"{w.kind} refused"] += 1
                if present:
                    problems.append(f"refused {w.kind} {w.key} ({w.attempts[-1].status}) is in the database")
            else:
                figures[f"{w.kind} outcome unknown"] += 1
                if present > 1:
                    problems.append(f"{w.kind} {w.key} of unknown outcome is in the database {present} times")
        for (order_id, type_), n in events.items():
            if n > 1:
                problems.append(f"order {order_id} has {n} '{type_}' events from the writers")
        acked_orders = [w.acked.body for w in load.writes if w.kind == "order" and w.acked]
        for body in acked_orders:
            if body.get("technician"):
                (n,) = q("SELECT count(*) FROM notifications WHERE order_id = :o AND kind = 'order_assigned'",
                         o=body["id"])[0]
                if n < 1:
                    problems.append(f"order {body['id']} was assigned but its technician was not alerted")
        dup_keys = q("SELECT key, count(*) FROM notifications GROUP BY key HAVING count(*) > 1")
        if dup_keys:
            problems.append(f"alert keys stored twice: {dup_keys[:5]}")
        dup_sla = q("SELECT order_id, kind, level, cycle, count(*) FROM sla_alerts "
                    "GROUP BY order_id, kind, level, cycle HAVING count(*) > 1")
        if dup_sla:
            problems.append(f"escalations doubled: {dup_sla[:5]}")
        figures["alerts stored"] = q("SELECT count(*) FROM notifications")[0][0]
        figures["escalations (sla_alerts)"] = q("SELECT count(*) FROM sla_alerts")[0][0]
        ledger = verify_ledger()
        figures["ledger levels checked"] = ledger.levels_checked
        if not ledger.ok:
            problems.append(f"ledger != levels: {ledger.differences[:5]} {ledger.misplaced_units[:5]}")
        db.session.rollback()
        db.engine.dispose()
    return dict(figures), problems


def run(pg_port: int, web_port: int, seconds: float, kills: int, web_workers: int = 3, job_workers: int = 2,
        demo_size: str = "lean", log=print) -> tuple[dict[str, Any], list[str], Stack]:
    """Start everything, load it, do the faults spread over the run, stop, check."""
    cluster = PrivateCluster(pg_port).start()
    url = cluster.url("restore24_chaos")
    # a tick every 2 s, so escalations happen (and are caught up) during and after the faults
    stack = Stack(url, web_port, web_workers=web_workers, job_workers=job_workers,
                  extra_env={"FLASK_SCHEDULER_INTERVAL_SECONDS": "2"})
    try:
        create_database(url)
        t0 = time.monotonic()
        stack.prepare(demo_size)
        stack.start()
        log(f"stack up in {time.monotonic() - t0:.0f} s: {stack.all_pids()}")
        load = Load(stack.base).start()
        faults = [("web", i) for i in range(kills)] + [("job", i) for i in range(kills)] + [("pg", 0)]
        random.Random(17).shuffle(faults)
        gap = seconds / (len(faults) + 1)
        for what, i in faults:
            time.sleep(gap)
            t = time.monotonic()
            if what == "web":
                log(f"kill -9 web worker {stack.kill_web_worker()}")
            elif what == "job":
                log(f"kill -9 job worker {stack.kill_job_worker(i % job_workers)}")
            else:
                cluster.restart()
                log(f"PostgreSQL restarted in {time.monotonic() - t:.1f} s")
        time.sleep(gap)
        load.finish()
        time.sleep(5)  # two ticks: the workers catch up on escalations and the last alerts
        figures, problems = check(url, load)
        if problems:
            problems.append("process logs:\n" + stack.logs())
        figures.update(stack.restarts)
        figures["pg restarts"] = 1
        return figures, problems, stack
    finally:
        stack.stop()
        stack.remove()
        cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--kills", type=int, default=3, help="kill -9 this many web workers and job workers each")
    parser.add_argument("--pg-port", type=int, default=5643)
    parser.add_argument("--port", type=int, default=5633)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--job-workers", type=int, default=2)
    args = parser.parse_args()
    figures, problems, _stack = run(args.pg_port, args.port, args.seconds, args.kills, args.web_workers,
                                    args.job_workers)
    for name, value in sorted(figures.items()):
        print(f"{name:<40} {value}")
    print("\n".join(["PROBLEMS:", *problems]) if problems else "every check passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
