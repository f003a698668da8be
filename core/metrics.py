"""Prometheus metrics (prometheus-client): what the processes count, and what the database holds.

Two kinds:

- **Counted by the processes** — request latency and status per route, tick and job durations,
  what the jobs did, database connections in use. Module-level objects, as prometheus-client
  wants them. With PROMETHEUS_MULTIPROC_DIR set (gunicorn, and a `flask worker` on the same
  host sharing the folder) each process writes its values to files there and /metrics adds up
  every process's files (`MultiProcessCollector`); without it, the values live in this process.
- **Read from the database when scraped** — alerts waiting in the outbox and the age of the
  oldest, alerts whose delivery failed. One process's answer is every process's truth, so
  these are gauges computed by a collector at scrape time (`DatabaseCollector`), never stored.

Route labels are Flask's URL rules (`/api/v1/orders/<int:order_id>`), never the raw path, so a
label holds no id and the number of series stays fixed. Unmatched paths share one label.
"""
from __future__ import annotations

import logging
import os
import re
from typing import Any, Iterable

import sqlalchemy as sa
from flask import Flask
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               disable_created_metrics, generate_latest)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event

log = logging.getLogger(__name__)

disable_created_metrics()  # no *_created series: counters and histograms only
PREFIX = "restore24"
UNMATCHED = "unmatched"  # the route label of a path no rule matched (404s, probes)
# the operator's targets (intake p99 300 ms, map feed p99 500 ms) fall on bucket edges
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
TICK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

REQUEST_LATENCY = Histogram(f"{PREFIX}_http_request_duration_seconds",
                            "Time from the request's start to its response, by route (URL rule).",
                            ["method", "route"], buckets=LATENCY_BUCKETS)
REQUESTS = Counter(f"{PREFIX}_http_requests", "Requests answered, by route and status.",
                   ["method", "route", "status"])
TICK_DURATION = Histogram(f"{PREFIX}_tick_duration_seconds",
                          "Duration of a tick that ran (this process held the lease).", buckets=TICK_BUCKETS)
JOB_DURATION = Histogram(f"{PREFIX}_job_duration_seconds", "Duration of one periodic job in a tick.",
                         ["job"], buckets=TICK_BUCKETS)
JOB_RUNS = Counter(f"{PREFIX}_job_runs", "Periodic job runs, by outcome (ok, failed).", ["job", "outcome"])
# The jobs report what they did as "3 level1, 0 level2, 5 notifications" (dispatch/deadlines/jobs.py):
# each committed "N what" adds N here. Escalations raised = job="escalations", item=~"level.".
JOB_ITEMS = Counter(f"{PREFIX}_job_items", "What committed job runs reported doing, by job and item.",
                    ["job", "item"])
POOL_IN_USE = Gauge(f"{PREFIX}_db_pool_connections_in_use", "Database connections checked out of the pool.",
                    multiprocess_mode="livesum")
POOL_CAPACITY = Gauge(f"{PREFIX}_db_pool_capacity", "Connections the pool may open (size + overflow).",
                      multiprocess_mode="livesum")

_COUNT = re.compile(r"(\d+) ([A-Za-z_]\w{0,40})")
_SUMMARY = re.compile(r"\d+ [A-Za-z_]\w{0,40}(, \d+ [A-Za-z_]\w{0,40})*")  # the whole result, nothing else


def multiprocess_dir() -> str | None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and os.path.isdir(path) else None


# ------------------------------------------------------------------ what the processes count

def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(method, route).observe(seconds)
    REQUESTS.labels(method, route, str(status)).inc()


def observe_job(name: str, seconds: float, result: object, ok: bool) -> None:
    JOB_DURATION.labels(name).observe(seconds)
    JOB_RUNS.labels(name, "ok" if ok else "failed").inc()
    if ok and isinstance(result, str) and _SUMMARY.fullmatch(result):
        for number, item in _COUNT.findall(result):
            if int(number):
                JOB_ITEMS.labels(name, item).inc(int(number))
    elif ok and isinstance(result, int) and not isinstance(result, bool) and result > 0:
        JOB_ITEMS.labels(name, "items").inc(result)


def observe_tick(seconds: float) -> None:
    TICK_DURATION.observe(seconds)


def watch_pool(engine: sa.engine.Engine) -> None:
    """Count this engine's checked-out connections (the pool's events; kept by dispose())."""
    pool = engine.pool
    if getattr(pool, "_restore24_watched", False):
        return
    pool._restore24_watched = True  # type: ignore[attr-defined]
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    if callable(size):
        POOL_CAPACITY.inc(size() + max(overflow, 0))
    event.listen(pool, "checkout", lambda *_a: POOL_IN_USE.inc())
    event.listen(pool, "checkin", lambda *_a: POOL_IN_USE.dec())


# ------------------------------------------------------------------ what the database holds

class DatabaseCollector:
    """Gauges read from the database at scrape time, inside the scraping request's app context."""

    def collect(self) -> Iterable[Any]:
        from core.db import now
        from core.extensions import db
        from core.outbox import Notification

        up = GaugeMetricFamily(f"{PREFIX}_metrics_database_up", "1 if the database answered this scrape.")
        try:
            waiting, oldest = db.session.execute(
                sa.select(sa.func.count(), sa.func.min(Notification.created_at))
                .where(Notification.push_status == "pending")).one()
            failed = db.session.scalar(sa.select(sa.func.count()).select_from(Notification)
                                       .where(Notification.push_status == "failed"))
            db.session.rollback()
        except Exception:  # a scrape while the database is away still answers
            db.session.rollback()
            log.warning("metrics: the database did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(f"{PREFIX}_alerts_waiting", "Alerts in the outbox waiting for delivery.",
                                value=waiting or 0)
        yield GaugeMetricFamily(f"{PREFIX}_alerts_oldest_waiting_age_seconds",
                                "Age of the oldest alert waiting for delivery (0 when none waits).",
                                value=max((now() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0)
        yield GaugeMetricFamily(f"{PREFIX}_alerts_failed", "Alerts whose delivery failed for good.",
                                value=failed or 0)


class _Scrape:
    """This scrape's collectors: every process's files (multiprocess) or this process's registry,
    then the database's gauges."""

    def __init__(self) -> None:
        path = multiprocess_dir()
        if path:
            from prometheus_client import multiprocess

            self.counted: Any = CollectorRegistry()
            multiprocess.MultiProcessCollector(self.counted, path=path)
        else:
            self.counted = REGISTRY
        self.database = DatabaseCollector()

    def collect(self) -> Iterable[Any]:
        yield from self.counted.collect()
        yield from self.database.collect()


def render() -> tuple[bytes, str]:
    """The exposition text of every metric, and its content type (call inside an app context)."""
    return generate_latest(_Scrape()), CONTENT_TYPE_LATEST  # type: ignore[arg-type]


def serve_worker_metrics(app: Flask, announce: Any = print) -> Any:
    """`flask worker` with WORKER_METRICS_PORT: its ticks and jobs on a port of its own.

    A worker is one process: it keeps its values in memory (run it without
    PROMETHEUS_MULTIPROC_DIR, which belongs to gunicorn and is emptied when gunicorn starts).
    The database's gauges (alerts waiting) are the web's /metrics."""
    port = app.config.get("WORKER_METRICS_PORT")
    if not port:
        return None
    from prometheus_client import start_http_server

    host = app.config.get("WORKER_METRICS_HOST") or "127.0.0.1"
    server, _thread = start_http_server(int(port), addr=host, registry=_WorkerScrape())  # type: ignore[arg-type]
    announce(f"worker metrics on http://{host}:{int(port)}/metrics")
    return server


class _WorkerScrape:
    def collect(self) -> Iterable[Any]:
        path = multiprocess_dir()
        if path:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=path)
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()


def register(app: Flask) -> None:
    from core.extensions import db

    with app.app_context():
        watch_pool(db.engine)
