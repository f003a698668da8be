"""The periodic-jobs runner: one lease per tick across processes (core/worker.py runs the ticks)."""
from __future__ import annotations

import logging
import os
import socket
import time
from datetime import datetime, timedelta
from typing import Callable

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, now
from core.extensions import db

log = logging.getLogger(__name__)

PG_ADVISORY_KEY = 0x52_32_34  # "R24"
Job = tuple[str, Callable[[], object]]


def register_jobs(app: Flask, jobs: list[Job]) -> None:
    """The periodic jobs a tick runs, in this order; create_app lists them."""
    names = [name for name, _ in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"periodic job names repeat: {names}")
    app.extensions["restore24_jobs"] = list(jobs)


def jobs_of(app: Flask) -> list[Job]:
    return list(app.extensions.get("restore24_jobs", []))


class SchedulerLease(db.Model):
    """Who runs the periodic jobs right now (SQLite; PostgreSQL uses an advisory lock)."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(120))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _is_dead_local(holder: str) -> bool:
    """True when the holder is a process on this host that no longer runs (killed mid-tick)."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def take_lease(name: str = "tick", seconds: int = 120) -> bool:
    """Take or renew the lease row; True if this process holds it now. Commits.

    An expired lease, or one held by a dead process on this host, may be taken over."""
    me, t = holder_id(), now()
    row = db.session.get(SchedulerLease, name)
    if row is None:
        try:
            db.session.add(SchedulerLease(name=name, holder=me, expires_at=t + timedelta(seconds=seconds)))
            db.session.commit()
            return True
        except sa.exc.IntegrityError:
            db.session.rollback()
            return False
    # A guarded update: only one process can move an expired (or its own) lease.
    dead = row.holder if row.holder != me and _is_dead_local(row.holder) else None
    res = db.session.execute(sa.update(SchedulerLease).where(
        SchedulerLease.name == name,
        sa.or_(SchedulerLease.holder == me, SchedulerLease.expires_at < t, SchedulerLease.holder == dead),
    ).values(holder=me, expires_at=t + timedelta(seconds=seconds)))
    db.session.commit()
    return res.rowcount == 1


def release_lease(name: str = "tick") -> None:
    db.session.execute(sa.delete(SchedulerLease).where(SchedulerLease.name == name,
                                                       SchedulerLease.holder == holder_id()))
    db.session.commit()


def run_tick(app: Flask) -> dict[str, object] | None:
    """One pass of every job, if this process gets the lease; None when another has it."""
    from sqlalchemy import text
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            conn = db.engine.connect()
            try:
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_ADVISORY_KEY}).scalar()
                conn.commit()  # the session-level lock outlives the transaction; don't sit idle in one
                if not got:
                    return None
                try:
                    return _run_jobs(jobs_of(app))
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_ADVISORY_KEY})
                    conn.commit()
            finally:
                conn.close()
        if not take_lease():
            return None
        try:
            return _run_jobs(jobs_of(app))
        finally:
            release_lease()


def _run_jobs(jobs: list[Job]) -> dict[str, object]:
    from core import metrics

    results: dict[str, object] = {}
    tick_start = time.perf_counter()
    for name, fn in jobs:
        start, ok = time.perf_counter(), False
        try:
            results[name] = fn()
            db.session.commit()
            ok = True
        except Exception:  # one job's failure must not stop the others; the next tick retries
            db.session.rollback()
            log.exception("periodic job %s failed", name)
            results[name] = "failed"
        metrics.observe_job(name, time.perf_counter() - start, results[name], ok)
    metrics.observe_tick(time.perf_counter() - tick_start)
    return results


def start(app: Flask) -> None:
    """Run the worker (tick and alert delivery, core/worker.py) in this process when
    SCHEDULER_ENABLED (`make run`); never under TESTING or in the reloader's parent.
    Production web processes leave it off and run `flask worker` beside them."""
    if not app.config.get("SCHEDULER_ENABLED") or app.config.get("TESTING"):
        return
    if app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        return
    from core.worker import Worker

    worker = Worker(app)
    worker.start()
    app.extensions["restore24_worker"] = worker
