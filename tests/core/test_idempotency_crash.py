"""A write whose process is killed mid-request does not hold its Idempotency-Key: a retry soon succeeds."""
from __future__ import annotations

import importlib.util
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from core.audit import AuditEvent
from core.extensions import db
from testsupport import USE_POSTGRES

WORKER = Path(__file__).with_name("idempotency_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _worker_module():
    spec = importlib.util.spec_from_file_location("idempotency_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wait_for_claim(proc: subprocess.Popen, timeout: float = 60) -> None:
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            proc.kill()
            raise AssertionError("the worker never claimed its key")
    line = proc.stdout.readline()
    if line.strip() != "claimed":
        proc.kill()
        raise AssertionError(f"worker failed: {line!r} {proc.communicate()[1][-3000:]}")


def test_a_killed_write_releases_its_key_within_seconds(app, new_app, database_url, make_user, token_for):
    headers = {**token_for(make_user("dispatcher")), "Idempotency-Key": "crash-1"}
    probe_app = new_app()
    _worker_module().add_probe(probe_app)
    client = probe_app.test_client()
    proc = subprocess.Popen([sys.executable, str(WORKER), database_url, headers["Authorization"], "crash-1"],
                            cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for_claim(proc)
        if USE_POSTGRES:  # (on SQLite the running write holds the database's one write lock: others wait)
            busy = client.post("/api/v1/probe", json={"n": 1}, headers=headers)
            assert busy.status_code == 409 and busy.get_json()["error"]["code"] == "idempotency_in_progress"
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    deadline = time.monotonic() + 10  # the claim went with the dead process's connection, not after 120 s
    while True:
        retry = client.post("/api/v1/probe", json={"n": 1}, headers=headers)
        if retry.status_code != 409 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert retry.status_code == 201, retry.get_json()
    again = client.post("/api/v1/probe", json={"n": 1}, headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    with app.app_context():  # the killed write left nothing; the retry wrote once
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "probe")) == 1
