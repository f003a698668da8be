"""Operations: /healthz, /readyz, /metrics, and one log line per request.

- `GET /healthz` — the process answers: `200 {"status": "ok"}`, touching nothing else.
- `GET /readyz` — ready to take traffic: the database answers, its schema is at the latest
  Alembic revision, and a worker was seen (core/heartbeat.py) within two of its intervals.
  `200` or `503`, with each check and what is wrong. Never a 500: a check that fails is a 503.
- `GET /metrics` — Prometheus text (core/metrics.py). Who may read it: with METRICS_TOKEN set,
  a request bearing `Authorization: Bearer <METRICS_TOKEN>`; without it, only a request made
  from this host (a loopback address, not forwarded by a proxy). Others get 403.

Every request is logged once, when its response is ready (`request_finished`), on the
`restore24.request` logger: request id, method, route (the URL rule, no ids), status and
duration in ms — as `key=value` text, or one JSON object a line with REQUEST_LOG_JSON. The
request id is the caller's `X-Request-ID` when it is sane (1–128 of `A-Za-z0-9._:-`, and
no phone number), else a new one; the response echoes it. Log records pass through
core/logs.py like every other, so no phone number or search text reaches the log.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
import sys
import time
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, request_finished, request_started

from core import heartbeat, metrics
from core.access import public
from core.errors import json_error
from core.extensions import db
from core.logs import scrub

bp = Blueprint("ops", __name__)
request_log = logging.getLogger("restore24.request")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


# ------------------------------------------------------------------ health and readiness

@bp.get("/healthz")
@public
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
@public
def readyz():
    try:
        checks = readiness(current_app._get_current_object())  # type: ignore[attr-defined]
    except Exception as err:  # noqa: BLE001  (a probe answers 503, never 500)
        db.session.rollback()
        checks = {"readiness": {"ok": False, "error": type(err).__name__}}
    problems = [f"{name}: {check['error']}" for name, check in checks.items() if not check["ok"]]
    body = {"status": "ok" if not problems else "unavailable", "checks": checks, "problems": problems}
    resp = jsonify(body)
    resp.status_code = 200 if not problems else 503
    resp.headers["Cache-Control"] = "no-store"
    if problems:
        resp.headers["Retry-After"] = "5"
    return resp


def readiness(app: Flask) -> dict[str, dict[str, Any]]:
    """Each check as {"ok": bool, "error": str (when not ok), ...details}. Reads; never writes."""
    checks: dict[str, dict[str, Any]] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as err:  # noqa: BLE001
        db.session.rollback()
        reason = f"not reachable ({type(err).__name__})"
        return {"database": {"ok": False, "error": reason},
                "schema": {"ok": False, "error": "not checked: no database"},
                "worker": {"ok": False, "error": "not checked: no database"}}
    tables = sa.inspect(db.session.connection())
    checks["schema"] = _schema_check(app, tables)
    if tables.has_table("worker_heartbeats"):
        checks["worker"] = _worker_check()
    else:
        checks["worker"] = {"ok": False, "error": "not checked: the schema has no worker_heartbeats table"}
    db.session.rollback()
    return checks


def schema_heads(app: Flask) -> set[str]:
    """The latest revisions of migrations/ (read once per app)."""
    heads = app.extensions.get("restore24_schema_heads")
    if heads is None:
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(app.extensions["migrate"].directory))
        heads = set(ScriptDirectory.from_config(cfg).get_heads())
        app.extensions["restore24_schema_heads"] = heads
    return heads


def _schema_check(app: Flask, tables: Any) -> dict[str, Any]:
    latest = sorted(schema_heads(app))
    if not tables.has_table("alembic_version"):
        return {"ok": False, "error": "not migrated (no alembic_version table); run `flask db upgrade`",
                "current": [], "latest": latest}
    current = sorted(db.session.scalars(sa.text("SELECT version_num FROM alembic_version")).all())
    if current == latest:
        return {"ok": True, "current": current, "latest": latest}
    return {"ok": False, "error": f"at {', '.join(current) or 'nothing'}, latest is {', '.join(latest)}; "
                                  "run `flask db upgrade`",
            "current": current, "latest": latest}


def _worker_check() -> dict[str, Any]:
    live = heartbeat.live_workers()
    last = heartbeat.last_seen()
    seen = _iso(last)
    if live:
        return {"ok": True, "workers": len(live), "last_seen": seen}
    if last is None:
        return {"ok": False, "error": "no worker seen; start `flask worker`", "workers": 0, "last_seen": None}
    return {"ok": False, "error": f"no worker seen within two tick intervals (last at {seen})",
            "workers": 0, "last_seen": seen}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ------------------------------------------------------------------ metrics

@bp.get("/metrics")
@public
def metrics_view():
    if not may_read_metrics(current_app._get_current_object()):  # type: ignore[attr-defined]
        return json_error(403, "forbidden", "Metrics need METRICS_TOKEN as a bearer token, or a request from this host.")
    body, content_type = metrics.render()
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


def may_read_metrics(app: Flask) -> bool:
    token = app.config.get("METRICS_TOKEN")
    if token:
        given = request.headers.get("Authorization", "")
        return given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), str(token).encode())
    if not int(app.config.get("PROXY_FIX_HOPS") or 0) and (
            request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded")):
        return False  # a local reverse proxy relaying someone else's request
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------ request log

def request_id_from(header: str | None) -> str:
    if header and _REQUEST_ID.fullmatch(header) and scrub(header) == header:
        return header
    return uuid.uuid4().hex


def _started(sender: Flask, **_extra: Any) -> None:
    g.ops_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get("X-Request-ID"))


def _finished(sender: Flask, response: Response, **_extra: Any) -> None:
    started = g.get("ops_started")
    if started is None:
        return
    seconds = time.perf_counter() - started
    route = request.url_rule.rule if request.url_rule is not None else metrics.UNMATCHED
    rid = g.get("request_id") or uuid.uuid4().hex
    response.headers["X-Request-ID"] = rid
    try:
        metrics.observe_request(request.method, route, response.status_code, seconds)
    except Exception:  # noqa: BLE001  (metrics never fail a request)
        request_log.debug("metrics not recorded", exc_info=True)
    if not sender.config.get("REQUEST_LOG", True):
        return
    entry = {"request_id": rid, "method": request.method, "route": route, "status": response.status_code,
             "duration_ms": round(seconds * 1000, 1)}
    if sender.config.get("REQUEST_LOG_JSON"):
        request_log.info(json.dumps(entry, ensure_ascii=False))
    else:
        request_log.info(" ".join(f"{key}={value}" for key, value in entry.items()))


def _log_handler(app: Flask) -> None:
    """Outside tests, request lines go to stderr (gunicorn's and systemd's log) at INFO."""
    if app.testing or request_log.handlers:
        request_log.setLevel(logging.INFO)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if app.config.get("REQUEST_LOG_JSON")
                                           else "%(asctime)s %(name)s %(message)s"))
    request_log.addHandler(handler)
    request_log.setLevel(logging.INFO)
    request_log.propagate = False


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    request_started.connect(_started, app)
    request_finished.connect(_finished, app)
    _log_handler(app)
    metrics.register(app)
