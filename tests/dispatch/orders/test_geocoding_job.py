"""No network I/O inside a transaction: intake queues an address, the geocoder job looks it up
with no transaction open and then places and assigns the order (issue 13)."""
from __future__ import annotations

import json
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from werkzeug.serving import make_server

from core.auth import get_user
from core.extensions import db
from dispatch.orders import services
from dispatch.orders.jobs import geocode_addresses
from dispatch.orders.models import RepairOrder
from testsupport import PASSWORD

ADDRESS = "8 Fuhua Road"
POINT = (22.505, 114.015)  # inside S02


def transaction_open(database_url: str) -> bool:
    """Does any other connection hold a transaction on the test database right now?"""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        conn = sqlite3.connect(url.database, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # what every transaction of the app begins with
            conn.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:  # database is locked: someone holds the write lock
            return True
        finally:
            conn.close()
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return bool(conn.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")))
    finally:
        engine.dispose()


class SlowGeocoder:
    """The fake Nominatim takes 3 s to answer unless the test lets it answer sooner; it records
    when it was asked and answered, and whether a transaction was open while it was asked."""

    def __init__(self, nominatim: Any, database_url: str) -> None:
        self.log: list[str] = []
        self.in_transaction: list[bool] = []
        self.asked = threading.Event()
        self.release = threading.Event()
        self.database_url = database_url
        nominatim.before_answer = self._hold

    def _hold(self) -> None:
        self.log.append("geocoder asked")
        self.in_transaction.append(transaction_open(self.database_url))
        self.asked.set()
        self.log.append("geocoder answered" if self.release.wait(3) else "geocoder answered after 3 s")


class Live:
    """The app served by a threaded werkzeug server, and a tiny JSON client for it."""

    def __init__(self, app: Any, url: str) -> None:
        self.app, self.url = app, url

    def call(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def token(self, user: Any) -> str:
        status, body = self.call("POST", "/api/v1/auth/tokens", body={"username": user.username,
                                                                     "password": PASSWORD})
        assert status == 201, body
        return body["token"]


@pytest.fixture
def live(new_app, database_url, nominatim):
    application = new_app(GEOCODER_DOMAIN=nominatim.domain, GEOCODER_SCHEME="http",
                          GEOCODER_MIN_DELAY_SECONDS=0, GEOCODER_TIMEOUT=10)
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Live(application, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    server.server_close()


@pytest.fixture
def slow(nominatim, database_url):
    nominatim.answers[ADDRESS] = POINT
    return SlowGeocoder(nominatim, database_url)


def _order_body(customer_id: int) -> dict[str, Any]:
    return {"customer_id": customer_id, "category": "DTV-MOSAIC", "description": "No picture", "channel": "web"}


def _wait(predicate: Any, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_intake_of_an_address_calls_no_geocoder_and_delays_no_one(live, slow, city, make_customer):
    nowhere = make_customer(lat=None, lon=None, address=ADDRESS)
    token = live.token(city.dispatcher)
    posted: dict[str, Any] = {}

    def post() -> None:
        posted["resp"] = live.call("POST", "/api/v1/orders", token, _order_body(nowhere.id))
        slow.log.append("POST done")

    thread = threading.Thread(target=post)
    thread.start()
    assert _wait(lambda: slow.asked.is_set() or "resp" in posted)
    status, _ = live.call("GET", "/api/v1/categories", token)  # an unrelated request meanwhile
    slow.log.append("GET done")
    slow.release.set()
    thread.join(20)
    assert status == 200
    assert slow.in_transaction == [] and "geocoder answered after 3 s" not in slow.log
    assert slow.log == ["POST done", "GET done"]  # the intake answered without asking the geocoder
    status, order = posted["resp"]
    assert status == 201, order
    assert order["needs_location"] is True and order["status"] == "new" and order["station"] is None
    assert "Waiting for the geocoder" in order["events"][-1]["note"]


def test_the_job_geocodes_with_no_transaction_open_then_places_and_assigns(live, slow, city, make_customer):
    nowhere = make_customer(lat=None, lon=None, address=ADDRESS)
    token = live.token(city.dispatcher)
    status, queued = live.call("POST", "/api/v1/orders", token, _order_body(nowhere.id))
    assert status == 201 and queued["needs_location"] and slow.log == []
    result: dict[str, str] = {}

    def tick() -> None:
        with live.app.app_context():
            result["job"] = geocode_addresses()
        slow.log.append("job done")

    thread = threading.Thread(target=tick)
    thread.start()
    assert slow.asked.wait(10)
    status, _ = live.call("GET", "/api/v1/categories", token)  # while the geocoder thinks: a read ...
    slow.log.append("GET done")
    other, created = live.call("POST", "/api/v1/orders", token, _order_body(city.customer.id))  # ... and a write
    slow.log.append("POST done")
    slow.release.set()
    thread.join(20)
    assert status == 200 and other == 201 and created["status"] == "assigned"
    assert slow.log == ["geocoder asked", "GET done", "POST done", "geocoder answered", "job done"]
    assert slow.in_transaction == [False]
    assert result["job"] == "1 located"
    status, order = live.call("GET", f"/api/v1/orders/{queued['id']}", token)
    assert not order["needs_location"] and order["station"] == "S02" and order["status"] == "assigned"
    events = order["events"]
    assert [e["type"] for e in events][-2:] == ["located", "assigned"]
    assert events[-2]["note"] == "Located by the geocoder." and events[-2]["actor"] is None


def test_the_intake_commit_wakes_the_geocoder_at_once_not_at_the_next_tick(live, nominatim, city, make_customer):
    from core.worker import Worker

    nominatim.answers[ADDRESS] = POINT
    w = Worker(live.app, interval=3600, watch=False)  # the tick: once at start, then in an hour
    w.start()
    try:
        assert w.wait_ready(60)
        ticks = w.ticks
        nowhere = make_customer(lat=None, lon=None, address=ADDRESS)
        token = live.token(city.dispatcher)
        status, queued = live.call("POST", "/api/v1/orders", token, _order_body(nowhere.id))
        assert status == 201 and queued["needs_location"]

        def placed() -> bool:
            return live.call("GET", f"/api/v1/orders/{queued['id']}", token)[1]["status"] == "assigned"
        assert _wait(placed, 20), "the address was not geocoded within seconds of the intake"
        assert w.ticks == ticks  # no tick ran: the intake's commit woke the geocoding lane
    finally:
        w.stop()
    _, order = live.call("GET", f"/api/v1/orders/{queued['id']}", token)
    assert order["station"] == "S02" and not order["needs_location"]


@pytest.mark.parametrize("down", [True, False], ids=["geocoder down", "nothing found"])
def test_no_answer_is_retried_with_backoff_then_left_to_a_dispatcher(ctx, city, make_customer, nominatim,
                                                                     clock, down):
    nominatim.down = down
    nowhere = make_customer(lat=None, lon=None, address=ADDRESS)
    order = services.create_order(_order_body(nowhere.id), get_user(city.dispatcher.id))
    db.session.commit()
    order_id, version = order.id, order.version
    assert geocode_addresses() == "1 retry"
    assert geocode_addresses() == "nothing to geocode"  # not again before the backoff
    clock.advance(seconds=60)
    assert geocode_addresses() == "1 retry"
    clock.advance(seconds=119)
    assert geocode_addresses() == "nothing to geocode"  # the second wait is twice as long
    clock.advance(seconds=1)
    assert geocode_addresses() == "1 gave_up"
    clock.advance(days=1)
    assert geocode_addresses() == "nothing to geocode"
    assert nominatim.queries == [ADDRESS] * 3  # GEOCODER_MAX_ATTEMPTS
    order = db.session.get(RepairOrder, order_id)
    assert order.needs_location and order.status == "new" and order.station_id is None
    assert order.geocode_after is None and order.geocode_attempts == 3
    assert order.version == version  # a dispatcher's pin form, opened meanwhile, is still current
    note = services.timeline(order)[-1]
    assert note.type == "note" and "after 3 tries" in note.note and "pin" in note.note
    services.pin_location(order, 22.505, 114.005, get_user(city.dispatcher.id), expected_version=version)
    assert order.status == "assigned" and order.station.code == "S01"


def test_an_order_pinned_while_the_geocoder_answered_keeps_the_pin(ctx, city, make_customer, nominatim):
    nominatim.answers[ADDRESS] = POINT
    nowhere = make_customer(lat=None, lon=None, address=ADDRESS)
    order = services.create_order(_order_body(nowhere.id), get_user(city.dispatcher.id))
    db.session.commit()
    due = services.awaiting_geocoder()
    assert due == [(order.id, ADDRESS, nowhere.id)]
    services.pin_location(order, 22.505, 114.005, get_user(city.dispatcher.id))  # S01, by hand
    db.session.commit()
    assert services.record_geocode(order.id, ADDRESS, POINT) == "skipped"
    db.session.commit()
    order = db.session.get(RepairOrder, order.id)
    assert (order.lat, order.lon) == (22.505, 114.005) and order.station.code == "S01"
    assert services.awaiting_geocoder() == [] and geocode_addresses() == "nothing to geocode"
