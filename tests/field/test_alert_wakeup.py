"""Alerts leave seconds after the commit: a commit that stored alerts wakes the delivery worker
(in this process by a listener, across processes by PostgreSQL NOTIFY or SQLite polling); the
tick stays the safety net; web processes run no worker.

The worker's tick interval is an hour in these tests and its first tick has run before the
alert is committed, so only the wake-up can explain a delivery within seconds.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core import outbox
from core.auth import get_user
from core.extensions import db
from core.worker import Worker
from field import push

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))  # pushservice.py, push_fixtures.py (no packages)
from push_fixtures import alert, push_service, subscribe  # noqa: E402,F401  (fixtures)

WAIT = 10.0  # seconds a delivery may take here (the machine is shared); the bench measures the real figure
HOUR = 3600


def _wait_for(predicate, timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _dispatch_services():
    from dispatch.orders import services
    return services


@pytest.fixture
def worker(app):
    """Start a Worker on the test app (tick every hour unless told otherwise); stopped after the test."""
    started: list[Worker] = []

    def start(**kw) -> Worker:
        kw.setdefault("interval", HOUR)
        w = Worker(app, **kw)
        started.append(w)
        w.start()
        assert w.wait_ready(60), "the worker's first tick did not finish"
        return w
    yield start
    for w in started:
        w.stop()


@pytest.fixture
def commits_with_alerts():
    """Counts calls of the in-process wake-up (outbox.on_alerts_committed)."""
    calls: list[str] = []

    def listener() -> None:
        calls.append(threading.current_thread().name)
    outbox.on_alerts_committed(listener)
    yield calls
    outbox.remove_alerts_committed(listener)


def test_only_a_commit_that_stored_alerts_wakes_delivery(app, ctx, make_user, commits_with_alerts):
    tech = get_user(make_user("technician").id)

    outbox.enqueue("assigned", tech, cause="wake:1", title="Order R1 assigned to you")
    db.session.rollback()
    db.session.commit()  # a later commit of nothing must not inherit the rolled-back alert
    assert commits_with_alerts == []

    outbox.enqueue("assigned", tech, cause="wake:2", title="Order R2 assigned to you")
    outbox.enqueue("assigned", tech, cause="wake:3", title="Order R3 assigned to you")
    db.session.commit()
    assert len(commits_with_alerts) == 1  # once per transaction, however many alerts

    assert outbox.enqueue("assigned", tech, cause="wake:2", title="again") is None  # stored already
    db.session.commit()
    assert len(commits_with_alerts) == 1


@pytest.mark.postgres_only
def test_postgres_notifies_other_processes_at_commit_only(app, ctx, make_user):
    import psycopg

    url = db.engine.url
    args, kwargs = db.engine.dialect.create_connect_args(url)
    kwargs.pop("context", None)
    tech = get_user(make_user("technician").id)
    with psycopg.connect(*args, **kwargs, autocommit=True) as listener:
        listener.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")

        outbox.enqueue("assigned", tech, cause="notify:1", title="Order R1 assigned to you")
        db.session.flush()
        assert list(listener.notifies(timeout=0.5, stop_after=1)) == []  # not before the commit
        db.session.rollback()
        assert list(listener.notifies(timeout=0.5, stop_after=1)) == []  # nor after a rollback

        outbox.enqueue("assigned", tech, cause="notify:2", title="Order R2 assigned to you")
        db.session.commit()
        [note] = list(listener.notifies(timeout=5, stop_after=1))
        assert note.channel == outbox.NOTIFY_CHANNEL


def test_an_assignment_reaches_the_phone_seconds_after_the_request(app, client, login, make_station, make_user,
                                                                   make_customer, push_service, subscribe, worker,
                                                                   monkeypatch):
    services = _dispatch_services()
    station = make_station("S01", lon=114.0, lat=22.5)
    tech = make_user("technician", station=station, skills=["digital_tv", "cable_tv", "broadband"])
    dispatcher = make_user("dispatcher")
    customer = make_customer(lat=22.505, lon=114.005)
    phone = push_service.subscribe()
    subscribe(tech, phone)
    with app.app_context():
        services.ensure_reference_data()
        services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        db.session.commit()
    delivered_in: list[str] = []
    real = push.deliver_due

    def deliver_due(**kw):
        delivered_in.append(threading.current_thread().name)
        return real(**kw)
    monkeypatch.setattr(push, "deliver_due", deliver_due)
    w = worker(watch=False)  # only commits in this process can wake it
    ticks, delivered_in[:] = w.ticks, []
    login(dispatcher)

    resp = client.post("/api/v1/orders", json={"customer_id": customer.id, "category": "DTV-MOSAIC",
                                               "description": "Picture breaks up", "channel": "hotline"})

    assert resp.status_code == 201, resp.get_json()
    order = resp.get_json()
    assert _wait_for(lambda: push_service.received(phone)), "no push within seconds of the commit"
    [msg] = push_service.received(phone)
    assert msg.payload["type"] == "order_assigned" and msg.payload["order"] == order["id"]
    assert w.ticks == ticks  # no tick ran: the wake-up sent it
    assert delivered_in and set(delivered_in) == {"restore24-push_delivery"}  # never in the request's thread
    assert push_service.errors == []


def _spawn_worker(app, push_service, interval: float = HOUR) -> subprocess.Popen:
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests"), str(HERE)]),
           "R24_WORKER_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "R24_WORKER_INSTANCE": app.instance_path,
           "R24_WORKER_PUSH_ORIGINS": json.dumps([push_service.origin]),
           "R24_WORKER_INTERVAL": str(interval)}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "worker_app", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _await_line(proc: subprocess.Popen, prefix: str, timeout: float = 60.0) -> str:
    found: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            if line.startswith(prefix):
                found.append(line)
                return
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if not found:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        pytest.fail(f"worker never printed {prefix!r}: {out}\n{err[-3000:]}")
    return found[0]


def test_a_flask_worker_process_sends_an_alert_committed_by_another_process(app, make_user, push_service, subscribe,
                                                                            alert):
    tech = make_user("technician")
    phone = push_service.subscribe()
    subscribe(tech, phone)
    proc = _spawn_worker(app, push_service)
    try:
        ready = _await_line(proc, "worker ready")
        on_postgres = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
        assert ("LISTEN/NOTIFY" if on_postgres else "polling") in ready

        alert(tech, title="Order R7 assigned to you", order_id=7)  # committed here, in the test process

        assert _wait_for(lambda: push_service.received(phone)), "the worker process was not woken"
        [msg] = push_service.received(phone)
        assert msg.payload["order"] == 7 and push_service.errors == []
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err[-3000:]
    assert "worker stopped" in out


def test_an_alert_whose_wake_up_was_lost_goes_out_at_the_next_tick(app, make_user, push_service, subscribe, alert,
                                                                   worker, monkeypatch):
    monkeypatch.setattr(Worker, "wake", lambda self: None)  # every wake-up lost
    tech = make_user("technician")
    phone = push_service.subscribe()
    subscribe(tech, phone)
    w = worker(interval=1, watch=False)

    alert(tech)

    assert _wait_for(lambda: push_service.received(phone)), "the tick did not deliver"
    assert _wait_for(lambda: w.ticks >= 2)  # the tick that sent it has finished
    assert w.passes == 0  # delivered by a tick, not by a wake-up


def _worker_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("restore24-")}


def test_web_processes_run_no_worker_and_make_run_runs_one(new_app):
    before = _worker_threads()

    web = new_app(TESTING=False)  # a gunicorn process: SCHEDULER_ENABLED is false by default
    assert "restore24_worker" not in web.extensions
    assert _worker_threads() == before

    dev = new_app(TESTING=False, SCHEDULER_ENABLED=True, SCHEDULER_INTERVAL_SECONDS=HOUR)  # `make run`
    try:
        assert isinstance(dev.extensions.get("restore24_worker"), Worker)
        assert _worker_threads() - before == {"restore24-push_delivery", "restore24-geocoding", "restore24-watch"}
    finally:
        dev.extensions["restore24_worker"].stop()
    assert _worker_threads() == before
