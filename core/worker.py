"""The worker: the periodic tick and the alert delivery, as a process of its own or inside the dev server.

Production web processes run none of this (SCHEDULER_ENABLED is false): `flask worker` runs
it as a process of its own, and several may run at once, on one host or many — each tick
still runs once (the lease or advisory lock in core/scheduler.py) and each alert is sent
once (the claims in field/push.py). `make run` turns SCHEDULER_ENABLED on, so the dev
server runs the same `Worker` in its own process and stays one command.

Three threads:

- **tick** (APScheduler): `run_tick` every SCHEDULER_INTERVAL_SECONDS, the first at start-up
  (catching up whatever fell due while no worker ran). Its last job delivers alerts too: the
  safety net for any wake-up that was lost.
- **delivery**: waits for a wake-up and runs the delivery jobs (`register_delivery`, listed
  by create_app) until nothing is due. It takes no lease, so alerts never queue behind
  escalations or incident detection; it is woken
- by a commit in this process that stored alerts (`core.outbox.on_alerts_committed`), and
- by the **watch** thread, for commits in other processes: on PostgreSQL it `LISTEN`s on
  `restore24_outbox` (each alert-storing transaction sends a NOTIFY that PostgreSQL delivers
  at its commit) on a connection of its own; SQLite has no NOTIFY, so it reads
  `PRAGMA data_version` every WORKER_POLL_SECONDS (0.5 s) on a connection of its own — a
  counter that changes only when another connection committed, read without a lock — and
  when it moved, `max(id)` of the outbox, waking delivery if that grew. A new connection
  (start-up, reconnection after an error) wakes delivery once, for what it may have missed.

`run_until_signalled` (the `flask worker` command) stops cleanly on SIGTERM or SIGINT: a
running tick or delivery pass finishes (every job commits as it goes), then the threads end.
"""
from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone
from typing import Callable

from flask import Flask

from core import outbox
from core.extensions import db
from core.scheduler import Job, run_tick

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 0.5  # SQLite: how often another process's commit is looked for
RECONNECT_MAX_SECONDS = 30.0


def register_delivery(app: Flask, jobs: list[Job]) -> None:
    """The jobs a wake-up runs (they are in the tick's list too); create_app lists them."""
    app.extensions["restore24_delivery_jobs"] = list(jobs)


def delivery_jobs_of(app: Flask) -> list[Job]:
    return list(app.extensions.get("restore24_delivery_jobs", []))


class Worker:
    """The tick, the delivery loop and the cross-process watch of one app, as threads.

    `interval` overrides SCHEDULER_INTERVAL_SECONDS; `watch=False` leaves out the watch
    thread (then only commits in this process wake delivery). `wait_ready()` returns once the
    first tick has run and the watch is connected.
    """

    def __init__(self, app: Flask, *, interval: float | None = None, watch: bool = True) -> None:
        self.app = app
        self.interval = float(interval if interval is not None else app.config["SCHEDULER_INTERVAL_SECONDS"])
        self.poll = float(app.config.get("WORKER_POLL_SECONDS", DEFAULT_POLL_SECONDS))
        self.ticks = 0
        self.passes = 0  # delivery passes run on a wake-up
        self._watching = threading.Event()
        self._ticked = threading.Event()
        self._wakeup = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._scheduler = None
        self._watch = watch

    # ------------------------------------------------------------ life cycle
    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        outbox.on_alerts_committed(self.wake)
        self._spawn("restore24-delivery", self._deliver_loop)
        if self._watch:
            self._spawn("restore24-watch", self._watch_loop)
        else:
            self._watching.set()
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(self._tick, "interval", seconds=self.interval, id="tick", max_instances=1,
                          coalesce=True, next_run_time=datetime.now(timezone.utc))  # the wall clock, not a test's
        scheduler.start()
        self._scheduler = scheduler
        log.info("worker started: tick every %ss, delivery woken by %s", self.interval, self.wake_source())

    def stop(self, timeout: float = 30.0) -> None:
        """Finish what is running, then end the threads (a running tick completes first)."""
        outbox.remove_alerts_committed(self.wake)
        self._stopping.set()
        self._wakeup.set()
        self._ticked.set()
        self._watching.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        log.info("worker stopped")

    def wake(self) -> None:
        """Ask for a delivery pass now. Only sets an event: safe from any thread, including a request's."""
        self._wakeup.set()

    def wake_source(self) -> str:
        if not self._watch:
            return "commits in this process"
        with self.app.app_context():
            dialect = db.engine.dialect.name
        return "LISTEN/NOTIFY" if dialect == "postgresql" else f"polling every {self.poll:g} s"

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """True once the first tick has run and the watch listens (False on timeout or stop)."""
        ok = self._ticked.wait(timeout) and self._watching.wait(timeout)
        return ok and not self._stopping.is_set()

    # ------------------------------------------------------------ tick and delivery
    def _tick(self) -> None:
        try:
            run_tick(self.app)
        except Exception:  # the database may be away; the next tick tries again
            log.exception("tick failed")
        finally:
            self.ticks += 1
            self._ticked.set()

    def _deliver_loop(self) -> None:
        while True:
            self._wakeup.wait()
            if self._stopping.is_set():
                return
            self._wakeup.clear()  # cleared before the pass: a commit during it asks for another
            self.passes += 1
            with self.app.app_context():
                for name, job in delivery_jobs_of(self.app):
                    try:
                        job()
                        db.session.commit()
                    except Exception:  # the tick's delivery job retries what this pass could not send
                        db.session.rollback()
                        log.exception("delivery job %s failed", name)

    # ------------------------------------------------------------ commits in other processes
    def _watch_loop(self) -> None:
        with self.app.app_context():
            engine = db.engine
            args, kwargs = engine.dialect.create_connect_args(engine.url)
            kwargs.update(self.app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}).get("connect_args", {}))
            dialect = engine.dialect.name
        if dialect not in ("postgresql", "sqlite") or (dialect == "sqlite" and not args):
            log.info("no cross-process wake-up on %s (in-memory database?): the tick delivers", dialect)
            self._watching.set()
            return
        watch = self._listen_postgres if dialect == "postgresql" else self._poll_sqlite
        delay = 1.0
        while not self._stopping.is_set():
            try:
                watch(args, kwargs)
                delay = 1.0
            except Exception:  # a lost connection: reconnect, and wake once for what we missed
                log.warning("alert wake-up watch lost its connection; again in %.0f s", delay, exc_info=True)
                self._watching.set()  # not blocking readiness on a database that is away
                self._stopping.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)

    def _listen_postgres(self, args: list, kwargs: dict) -> None:
        import psycopg

        kwargs = {k: v for k, v in kwargs.items() if k != "context"}  # SQLAlchemy's type adapters
        with psycopg.connect(*args, **kwargs, autocommit=True) as conn:
            conn.execute(f"LISTEN {outbox.NOTIFY_CHANNEL}")
            self.wake()
            self._watching.set()
            while not self._stopping.is_set():
                for _ in conn.notifies(timeout=max(self.poll, 1.0), stop_after=1):
                    self.wake()

    def _poll_sqlite(self, args: list, kwargs: dict) -> None:
        import sqlite3

        # isolation_level None: plain reads, no BEGIN (core.database would make it BEGIN IMMEDIATE)
        conn = sqlite3.connect(*args, **{**kwargs, "isolation_level": None})
        try:
            top = self._outbox_top(conn)
            self.wake()
            self._watching.set()
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            while not self._stopping.wait(self.poll):
                seen = conn.execute("PRAGMA data_version").fetchone()[0]
                if seen == version:
                    continue
                version = seen
                latest = self._outbox_top(conn)
                if latest > top:
                    top = latest
                    self.wake()
        finally:
            conn.close()

    @staticmethod
    def _outbox_top(conn) -> int:
        table = outbox.Notification.__tablename__
        return conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]


def _say(text: str) -> None:
    print(text, flush=True)


def run_until_signalled(app: Flask, *, announce: Callable[[str], None] = _say) -> None:
    """The `flask worker` process: start the worker, run until SIGTERM or SIGINT, stop cleanly."""
    stop = threading.Event()

    def request_stop(signum, _frame) -> None:
        log.info("worker: signal %s, stopping", signum)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    worker = app.extensions.get("restore24_worker")  # SCHEDULER_ENABLED started one already: not twice
    try:
        if worker is None:
            worker = Worker(app)
            worker.start()
        while not stop.is_set() and not worker.wait_ready(0.2):
            pass
        if not stop.is_set():
            announce(f"worker ready: tick every {worker.interval:g} s, alerts woken by {worker.wake_source()}")
        while not stop.wait(1.0):
            pass
    finally:
        if worker is not None:
            worker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        announce("worker stopped")

