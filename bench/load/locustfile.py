"""The day's mix at peak, against a running Restore24 loaded with the demo city
(`flask demo`): run it through bench/load/run.py, which starts the stack and reads the figures.

Who does what (rates per simulated person, R24_INTAKE_RATE scales the intake):
- intake dispatchers take orders by phone: POST /api/v1/orders with an Idempotency-Key, one a
  second each (R24_INTAKE_RATE of them: 20 at peak = 100 x 7,000 a day landing in one hour);
- a dispatcher reassigns an order to another station now and then (POST /orders/{id}/assign);
- the live map polls its feed every MAP_POLL_SECONDS (GET /api/v1/orders.geojson);
- technicians move their jobs through accept, depart, arrive, resolve (with parts from their
  van) through the API the field app calls (POST /orders/{id}/transitions);
- stock keepers move stock between their stores and their technicians' vans (POST /stock/moves);
- supervisors open their scorecards (GET /reports/, the page, with a session).

A 409/422 (stock ran out, someone else moved the order first) is a refusal the app is right to
give: counted apart, not a failure. Only 5xx and transport errors are failures.
"""
from __future__ import annotations

import json
import os
import random
import re
import threading
import uuid
from collections import Counter, defaultdict

from locust import HttpUser, between, constant, constant_throughput, events, task

PASSWORD = os.environ.get("R24_PASSWORD", "restore24")
INTAKE_RATE = float(os.environ.get("R24_INTAKE_RATE", "20"))
MAP_POLL_SECONDS = float(os.environ.get("R24_MAP_POLL_SECONDS", "15"))
RESULT = os.environ.get("R24_LOAD_RESULT")  # where the status counts go at the end (JSON)
RESOLUTIONS = ("reseated_connector", "replaced_stb", "reset_modem", "spliced_cable", "retuned_channels")
STATIONS = [f"S{n:02d}" for n in range(1, 17)]
DISPATCHERS = [f"dispatch-{n}" for n in range(1, 5)]
TECHNICIANS = [f"tech-s{s:02d}-{n}" for s in range(1, 17) for n in range(1, 4)]
STOCK_KEEPERS = ["stock-futian", "stock-luohu", "stock-nanshan", "stock-yantian"]
SUPERVISORS = [f"sup-s{s:02d}" for s in range(1, 17)]

statuses: dict[str, Counter] = defaultdict(Counter)
_lock = threading.Lock()
_recent_orders: list[int] = []


@events.request.add_listener
def _count(request_type, name, response_length, response, exception, **_kw):
    code = getattr(response, "status_code", 0) if response is not None else 0
    with _lock:
        statuses[name][str(code) if code else type(exception).__name__] += 1


@events.quitting.add_listener
def _write(environment, **_kw):
    if RESULT:
        with open(RESULT, "w") as fh:
            json.dump({name: dict(c) for name, c in statuses.items()}, fh, indent=1, sort_keys=True)


def _pick(pool: list[str], n: int) -> str:
    return pool[n % len(pool)]


class Person(HttpUser):
    abstract = True
    usernames: list[str] = []
    _seq = 0

    def on_start(self) -> None:
        Person._seq += 1
        self.username = _pick(self.usernames, Person._seq)
        resp = self.client.post("/api/v1/auth/tokens", json={"username": self.username, "password": PASSWORD},
                                name="auth token")
        resp.raise_for_status()
        self.client.headers["Authorization"] = "Bearer " + resp.json()["token"]

    def refused_ok(self, resp) -> None:
        """A 409/422 is the app refusing rightly: a success for the load's purposes."""
        if resp.status_code in (409, 422):
            resp.success()


class IntakeDispatcher(Person):
    usernames = DISPATCHERS
    fixed_count = max(1, round(INTAKE_RATE))
    wait_time = constant_throughput(INTAKE_RATE / max(1, round(INTAKE_RATE)))

    def on_start(self) -> None:
        super().on_start()
        cats = self.client.get("/api/v1/categories", name="categories").json()["items"]
        self.categories = [c["code"] for c in cats if c.get("kind") == "fault"] or [c["code"] for c in cats]
        self.stations = self.client.get("/api/v1/stations", name="stations").json()["items"]

    @task
    def take_order(self) -> None:
        st = random.choice(self.stations)
        n = random.randrange(10**7)
        body = {"customer": {"name": f"Load caller {n}", "phone": f"139{n:08d}", "address": f"{n % 900 + 1} Load Road"},
                "lat": st["lat"] + random.uniform(-0.002, 0.002), "lon": st["lon"] + random.uniform(-0.002, 0.002),
                "kind": "fault", "category": random.choice(self.categories), "channel": "hotline",
                "description": "No signal since this morning (load test)"}
        with self.client.post("/api/v1/orders", json=body, name="POST /orders (intake)", catch_response=True,
                              headers={"Idempotency-Key": uuid.uuid4().hex}) as resp:
            self.refused_ok(resp)
            if resp.status_code == 201:
                with _lock:
                    _recent_orders.append(resp.json()["id"])
                    del _recent_orders[:-500]


class ReassigningDispatcher(Person):
    usernames = DISPATCHERS
    fixed_count = 2
    wait_time = between(4, 8)

    @task
    def reassign(self) -> None:
        with _lock:
            order_id = random.choice(_recent_orders) if _recent_orders else None
        if order_id is None:
            return
        with self.client.post(f"/api/v1/orders/{order_id}/assign", name="POST /orders/{id}/assign",
                              json={"station": random.choice(STATIONS), "reason": "closer crew (load test)"},
                              headers={"Idempotency-Key": uuid.uuid4().hex}, catch_response=True) as resp:
            self.refused_ok(resp)


class MapScreen(Person):
    usernames = DISPATCHERS
    fixed_count = int(os.environ.get("R24_MAP_SCREENS", "20"))
    wait_time = constant(MAP_POLL_SECONDS)

    @task
    def poll(self) -> None:
        self.client.get("/api/v1/orders.geojson", name="GET /orders.geojson (map feed)")


NEXT = {"assigned": "accept", "accepted": "depart", "en_route": "arrive", "on_site": "resolve",
        "waiting_customer": "resume", "waiting_parts": "resume"}


class Technician(Person):
    usernames = TECHNICIANS
    fixed_count = int(os.environ.get("R24_TECHNICIANS", "24"))
    wait_time = between(5, 15)

    @task
    def work(self) -> None:
        jobs = self.client.get(f"/api/v1/orders?technician={self.username}&per_page=20",
                               name="GET /orders?technician (my jobs)").json().get("items", [])
        open_jobs = [j for j in jobs if j.get("status") in NEXT]
        if not open_jobs:
            return
        job = random.choice(open_jobs)
        action = NEXT[job["status"]]
        body: dict = {"action": action}
        if action == "resolve":
            body["resolution_code"] = random.choice(RESOLUTIONS)
            van = self.client.get(f"/api/v1/stock?location=VAN-{self.username}", name="GET /stock (my van)").json()
            parts = [i for i in van.get("items", []) if i.get("qty", 0) > 0]
            if parts and random.random() < 0.6:
                body["parts"] = [{"sku": random.choice(parts)["sku"], "qty": 1}]
        with self.client.post(f"/api/v1/orders/{job['id']}/transitions", json=body, catch_response=True,
                              name=f"POST /orders/{{id}}/transitions ({action})",
                              headers={"Idempotency-Key": uuid.uuid4().hex}) as resp:
            self.refused_ok(resp)


class StockKeeper(Person):
    usernames = STOCK_KEEPERS
    fixed_count = 4
    wait_time = between(3, 7)

    def on_start(self) -> None:
        super().on_start()
        self.stores = [x["code"] for x in self.client.get("/api/v1/locations?kind=store&per_page=100",
                                                          name="locations").json()["items"]]
        self.vans = self.client.get("/api/v1/locations?kind=van&per_page=100", name="locations").json()["items"]

    @task
    def move(self) -> None:
        if not self.stores or not self.vans:
            return
        store = random.choice(self.stores)
        levels = self.client.get(f"/api/v1/stock?location={store}", name="GET /stock (store)").json()["items"]
        stocked = [lv for lv in levels if lv["qty"] > 0]
        vans = [v["code"] for v in self.vans if v.get("station") == store] or [v["code"] for v in self.vans]
        if not stocked or not vans:
            if not stocked and len(self.stores) > 1:
                self.stores.remove(store)  # outside this keeper's stations (or empty): pick among the others
            return
        line = random.choice(stocked)
        source, target = (store, random.choice(vans))
        if random.random() < 0.3:
            source, target = target, source  # back from a van
        with self.client.post("/api/v1/stock/moves", catch_response=True, name="POST /stock/moves",
                              json={"type": "transfer", "sku": line["sku"], "qty": 1, "from": source, "to": target,
                                    "reason": "van top-up (load test)"},
                              headers={"Idempotency-Key": uuid.uuid4().hex}) as resp:
            self.refused_ok(resp)


class Supervisor(HttpUser):
    fixed_count = 4
    wait_time = between(10, 30)
    _seq = 0

    def on_start(self) -> None:
        Supervisor._seq += 1
        page = self.client.get("/login", name="GET /login").text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
        form = {"username": _pick(SUPERVISORS, Supervisor._seq), "password": PASSWORD}
        if token:
            form["csrf_token"] = token.group(1)
        self.client.post("/login", data=form, name="POST /login", allow_redirects=False)

    @task
    def scorecards(self) -> None:
        self.client.get("/reports/", name="GET /reports/ (scorecards)")
