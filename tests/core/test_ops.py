"""Operations (core/ops.py, core/metrics.py, core/heartbeat.py): /healthz, /readyz, /metrics, the request log."""
from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from flask_migrate import upgrade
from prometheus_client import REGISTRY

from core import heartbeat, metrics
from core.extensions import db
from core.scheduler import holder_id, run_tick
from core.worker import Worker
from testsupport import make_app

ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ------------------------------------------------------------------ /healthz

def test_healthz_answers_without_a_login(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}


# ------------------------------------------------------------------ /readyz

def test_readyz_is_503_until_a_worker_beats_then_200(app, client):
    resp = client.get("/readyz")
    body = resp.get_json()
    assert resp.status_code == 503, body
    assert body["status"] == "unavailable" and body["checks"]["database"]["ok"] and body["checks"]["schema"]["ok"]
    assert not body["checks"]["worker"]["ok"] and body["problems"] == ["worker: no worker seen; start `flask worker`"]

    worker = Worker(app, interval=3600, watch=False)  # the real worker: its first tick beats
    worker.start()
    try:
        assert worker.wait_ready(30)
        resp = client.get("/readyz")
        assert resp.status_code == 200, resp.get_json()
        assert resp.get_json()["checks"]["worker"]["workers"] == 1 and resp.get_json()["problems"] == []
    finally:
        worker.stop()
    resp = client.get("/readyz")  # a worker that stopped cleanly took its row away
    assert resp.status_code == 503 and "no worker seen" in resp.get_json()["checks"]["worker"]["error"]


def test_readyz_forgets_a_worker_silent_for_two_intervals(app, client, clock):
    with app.app_context():
        heartbeat.beat(holder_id(), 60)
    assert client.get("/readyz").status_code == 200
    clock.advance(seconds=119)
    assert client.get("/readyz").status_code == 200
    clock.advance(seconds=2)  # 121 s: two 60 s intervals without a beat (a killed worker)
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert "within two tick intervals" in resp.get_json()["checks"]["worker"]["error"]
    with app.app_context():
        heartbeat.beat(holder_id(), 60)
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_schema_is_behind(tmp_path):
    url = f"sqlite:///{tmp_path}/behind.db"
    behind = make_app(url, str(tmp_path / "instance"))
    client = behind.test_client()
    try:
        resp = client.get("/readyz")  # never migrated
        assert resp.status_code == 503
        assert "not migrated" in resp.get_json()["checks"]["schema"]["error"]
        with behind.app_context():
            upgrade(revision="0011")  # the heartbeat table, but not the latest revision
            heartbeat.beat(holder_id(), 60)
        resp = client.get("/readyz")
        body = resp.get_json()
        assert resp.status_code == 503, body
        assert body["checks"]["worker"]["ok"] and not body["checks"]["schema"]["ok"]
        assert body["checks"]["schema"]["current"] == ["0011"] and "flask db upgrade" in body["problems"][0]
        with behind.app_context():
            upgrade(revision="heads")
        assert client.get("/readyz").status_code == 200
    finally:
        with behind.app_context():
            db.engine.dispose()


def test_readyz_is_503_not_500_when_the_database_is_away(tmp_path):
    away = ("postgresql+psycopg://nobody@127.0.0.1:1/none" if os.environ.get("TEST_DATABASE") == "postgres"
            else f"sqlite:///{tmp_path}/no/such/folder/x.db")
    resp = make_app(away, str(tmp_path)).test_client().get("/readyz")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["checks"]["database"]["ok"] is False and body["problems"][0].startswith("database: not reachable")


# ------------------------------------------------------------------ /metrics

def test_metrics_label_requests_by_route_not_path(client):
    before = sample("restore24_http_requests_total", method="GET", route="/api/v1/orders/<int:order_id>",
                    status="401")
    for order_id in (123457, 987654):
        client.get(f"/api/v1/orders/{order_id}")
    client.get("/healthz")
    client.get("/no/such/page/55501")
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.content_type.startswith("text/plain")
    text = resp.get_data(as_text=True)
    assert re.search(r'restore24_http_request_duration_seconds_bucket\{le="0\.3",method="GET",'
                     r'route="/api/v1/orders/<int:order_id>"\}', text)
    assert 'restore24_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="unmatched",status="404"' in text
    assert "123457" not in text and "987654" not in text and "55501" not in text  # no ids in labels
    after = sample("restore24_http_requests_total", method="GET", route="/api/v1/orders/<int:order_id>",
                   status="401")
    assert after == before + 2


def test_metrics_show_alerts_waiting_and_the_oldest_age(app, client, make_user, clock):
    from core import outbox
    from core.auth import get_user

    user = make_user("dispatcher")
    with app.app_context():
        outbox.enqueue("test", get_user(user.id), cause="ops-test-1", title="one")
        db.session.commit()
    clock.advance(seconds=90)
    with app.app_context():
        outbox.enqueue("test", get_user(user.id), cause="ops-test-2", title="two")
        db.session.commit()
    text = client.get("/metrics").get_data(as_text=True)
    assert "restore24_alerts_waiting 2.0" in text
    assert "restore24_alerts_oldest_waiting_age_seconds 90.0" in text
    assert "restore24_metrics_database_up 1.0" in text


def test_metrics_count_ticks_jobs_and_what_they_report(app):
    ticks = sample("restore24_tick_duration_seconds_count")
    runs = sample("restore24_job_runs_total", job="escalations", outcome="ok")
    assert run_tick(app) is not None
    assert sample("restore24_tick_duration_seconds_count") == ticks + 1
    assert sample("restore24_job_runs_total", job="escalations", outcome="ok") == runs + 1
    # what a job reports as "N what, M what" (dispatch/deadlines/jobs.py) is counted; other text is not
    level1 = sample("restore24_job_items_total", job="escalations", item="level1")
    metrics.observe_job("escalations", 0.01, "2 level1, 0 level2, 3 notifications", ok=True)
    metrics.observe_job("escalations", 0.01, "5 level1, 1 level2, 9 notifications", ok=False)  # rolled back
    metrics.observe_job("position_retention", 0.01, "0 positions older than 30 days removed", ok=True)
    assert sample("restore24_job_items_total", job="escalations", item="level1") == level1 + 2
    assert sample("restore24_job_items_total", job="position_retention", item="days") == 0


def test_metrics_count_database_connections_in_use(app):
    from sqlalchemy import text

    before = sample("restore24_db_pool_connections_in_use")
    with app.app_context():
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            assert sample("restore24_db_pool_connections_in_use") == before + 1
    assert sample("restore24_db_pool_connections_in_use") == before


def test_metrics_need_the_token_when_one_is_set(new_app):
    guarded = new_app(METRICS_TOKEN="s3cret-token")
    c = guarded.test_client()
    assert c.get("/metrics").status_code == 403
    assert c.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    resp = c.get("/metrics", headers={"Authorization": "Bearer s3cret-token"},
                 environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert resp.status_code == 200 and b"restore24_http_requests_total" in resp.data


def test_metrics_without_a_token_only_from_this_host(client):
    assert client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    # a local reverse proxy relaying someone else's request, with no PROXY_FIX_HOPS to unwrap it
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 403


def test_metrics_add_up_every_process_in_multiprocess_mode(tmp_path, database_url):
    """Under gunicorn each worker writes its own files; /metrics in any process reads them all."""
    folder = tmp_path / "prom"
    folder.mkdir()
    script = textwrap.dedent(f"""
        import sys
        from testsupport import make_app
        app = make_app({database_url!r}, {str(tmp_path / "instance")!r})
        c = app.test_client()
        if sys.argv[1] == "serve":
            for _ in range(3):
                assert c.get("/healthz").status_code == 200
        else:
            sys.stdout.write(c.get("/metrics").get_data(as_text=True))
    """)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder),
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    for role in ("serve", "serve"):
        subprocess.run([sys.executable, "-c", script, role], env=env, check=True, cwd=ROOT, capture_output=True)
    out = subprocess.run([sys.executable, "-c", script, "scrape"], env=env, check=True, cwd=ROOT,
                         capture_output=True, text=True).stdout
    assert 'restore24_http_requests_total{method="GET",route="/healthz",status="200"} 6.0' in out
    assert "restore24_alerts_waiting" in out


# ------------------------------------------------------------------ the request log

def _request_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "restore24.request"]


def test_one_log_line_per_request_with_its_id(client, caplog):
    with caplog.at_level(logging.INFO, logger="restore24.request"):
        resp = client.get("/api/v1/orders/4242", headers={"X-Request-ID": "edge-7f3a.1"})
    assert resp.headers["X-Request-ID"] == "edge-7f3a.1"
    lines = _request_lines(caplog)
    assert len(lines) == 1
    assert re.fullmatch(r"request_id=edge-7f3a\.1 method=GET route=/api/v1/orders/<int:order_id> status=401 "
                        r"duration_ms=\d+\.\d", lines[0]), lines[0]


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "13800138000", "a\u00e9b", "<script>"])
def test_an_insane_request_id_is_replaced(client, caplog, given):
    with caplog.at_level(logging.INFO, logger="restore24.request"):
        resp = client.get("/healthz", headers={"X-Request-ID": given})
    rid = resp.headers["X-Request-ID"]
    assert rid != given and re.fullmatch(r"[0-9a-f]{32}", rid)
    assert _request_lines(caplog)[0].startswith(f"request_id={rid} ")


def test_request_log_as_json_and_without_personal_data(new_app, caplog):
    c = new_app(REQUEST_LOG_JSON=True).test_client()
    with caplog.at_level(logging.INFO, logger="restore24.request"):
        c.get("/api/v1/orders?q=13800138000&address=1+Shennan+Road")
    entry = json.loads(_request_lines(caplog)[0])
    assert set(entry) == {"request_id", "method", "route", "status", "duration_ms"}
    assert entry["route"] == "/api/v1/orders" and entry["status"] == 401
    assert not any("13800138000" in r.getMessage() or "Shennan" in r.getMessage() for r in caplog.records)


def test_a_worker_serves_its_ticks_on_its_own_port(new_app, app):
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    worker_app = new_app(WORKER_METRICS_PORT=port)
    server = metrics.serve_worker_metrics(worker_app, announce=lambda _text: None)
    try:
        run_tick(app)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        assert "restore24_tick_duration_seconds_count" in text and "restore24_job_runs_total{job=" in text
    finally:
        server.shutdown()
        server.server_close()
