"""Exactly once across processes: ticks in separate processes, one killed mid-batch, then ticking again."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.extensions import db
from core.outbox import Notification
from core.scheduler import SchedulerLease
from dispatch.orders.models import OrderEvent, RepairOrder
from dispatch.deadlines.models import SlaAlert

NOW = datetime(2026, 3, 3, 1, 0, tzinfo=timezone.utc)
WORKER = Path(__file__).with_name("tick_worker.py")
ROOT = Path(__file__).resolve().parents[3]
PER_GROUP = 8


@pytest.fixture
def due_orders(app, clock, make_order):
    """PER_GROUP orders in each state: warning due; level 1 due; levels 1 and 2 due."""
    groups = {}
    for name, hours_ago in (("warn", 21), ("level1", 25), ("level2", 29)):
        clock.set(NOW - timedelta(hours=hours_ago))
        groups[name] = [make_order() for _ in range(PER_GROUP)]
    return groups


def spawn(database_url: str, mode: str, crash: bool = False) -> subprocess.Popen:
    args = [sys.executable, str(WORKER), database_url, NOW.isoformat(), mode] + (["crash"] if crash else [])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 70), err[-3000:]
    return proc.returncode, out


def stored(app) -> dict:
    with app.app_context():
        alerts = Counter((o, k, lvl) for o, k, lvl in db.session.execute(
            sa.select(SlaAlert.order_id, SlaAlert.kind, SlaAlert.level)))
        evts = Counter((o, t, (d or {}).get("level")) for o, t, d in db.session.execute(
            sa.select(OrderEvent.order_id, OrderEvent.type, OrderEvent.data)
            .where(OrderEvent.type.in_(("deadline_warning", "escalated")))))
        keys = Counter(db.session.scalars(sa.select(Notification.key).where(
            Notification.kind.in_(("deadline_warning", "escalation")))))
        levels = dict(db.session.execute(sa.select(RepairOrder.id, RepairOrder.escalation_level)).all())
        db.session.rollback()
    return {"alerts": alerts, "events": evts, "notes": keys, "levels": levels}


def assert_exactly_once(app, groups) -> None:
    got = stored(app)
    expected_alerts = Counter({(o, "warning", 0): 1 for o in groups["warn"]})
    expected_alerts.update({(o, "escalation", 1): 1 for o in groups["level1"] + groups["level2"]})
    expected_alerts.update({(o, "escalation", 2): 1 for o in groups["level2"]})
    assert got["alerts"] == expected_alerts
    expected_events = Counter({(o, "deadline_warning", None): 1 for o in groups["warn"]})
    expected_events.update({(o, "escalated", lvl): 1 for (o, k, lvl) in expected_alerts if k == "escalation"})
    assert got["events"] == expected_events
    assert set(got["notes"].values()) == {1}
    # warning → technician + dispatcher; level 1 → sup1; level 2 → boss + admin
    assert sum(got["notes"].values()) == PER_GROUP * 2 + PER_GROUP * 2 + PER_GROUP * 2
    assert {o: got["levels"][o] for o in groups["level2"]} == {o: 2 for o in groups["level2"]}
    assert {o: got["levels"][o] for o in groups["level1"]} == {o: 1 for o in groups["level1"]}
    assert {o: got["levels"][o] for o in groups["warn"]} == {o: 0 for o in groups["warn"]}


def test_killed_tick_loses_nothing_and_the_next_tick_does_it_once(app, database_url, due_orders):
    """Sequential (runs on SQLite too): the lease row of the dead process is taken over."""
    rc, _out = finish(spawn(database_url, "tick", crash=True))
    assert rc == 70
    assert not any(stored(app)["alerts"].values())  # the killed batch left nothing behind
    with app.app_context():  # on SQLite the dead process still holds the lease row ...
        if db.engine.dialect.name == "sqlite":
            assert db.session.scalar(sa.select(SchedulerLease.holder)) is not None
        db.session.rollback()
    rc, out = finish(spawn(database_url, "tick"))  # ... which the next process on this host takes over
    assert rc == 0 and json.loads(out) is not None, out
    assert_exactly_once(app, due_orders)
    rc, out = finish(spawn(database_url, "tick"))
    assert json.loads(out)["escalations"] == "0 level1, 0 level2, 0 notifications"
    assert_exactly_once(app, due_orders)


@pytest.mark.postgres_only
def test_postgres_kill_then_three_processes_at_once(app, database_url, due_orders):
    rc, _out = finish(spawn(database_url, "tick", crash=True))
    assert rc == 70
    assert not any(stored(app)["alerts"].values())
    procs = [spawn(database_url, "jobs") for _ in range(3)]  # no lease: only the data keeps it once
    for proc in procs:
        finish(proc)
    assert_exactly_once(app, due_orders)


@pytest.mark.postgres_only
@pytest.mark.parametrize("mode", ["tick", "jobs"])
def test_postgres_three_processes_one_killed_mid_tick_then_tick_again(app, database_url, due_orders, mode):
    procs = [spawn(database_url, mode, crash=True), spawn(database_url, mode), spawn(database_url, mode)]
    for proc in procs:
        finish(proc)
    finish(spawn(database_url, "tick"))
    assert_exactly_once(app, due_orders)
    rc, out = finish(spawn(database_url, "tick"))
    assert json.loads(out)["deadline_warnings"] == "0 warned, 0 notifications"
    assert_exactly_once(app, due_orders)
