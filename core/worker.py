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
- **lanes**: one thread per job that `register_delivery` lists (push delivery, geocoding; create_app
  lists them), each waiting for a wake-up and then running its job until nothing is due. They
  take no lease, so alerts never queue behind escalations, incident detection or a slow
  geocoder; every lane is woken
- by a commit in this process that stored alerts or other work for the worker (an address to
  geocode: `core.outbox.on_alerts_committed`, `core.outbox.mark_work_for_worker`), and
- by the **watch** thread, for commits in other processes: on PostgreSQL it `LISTEN`s on
  `restore24_outbox` (each alert-storing transaction sends a NOTIFY that PostgreSQL delivers
  at its commit) on a connection of its own; SQLite has no NOTIFY, so it reads
  `PRAGMA data_version` every WORKER_POLL_SECONDS (0.5 s) on a connection of its own — a
  counter that changes only when another connection committed, read without a lock — and
  when it moved, each lane's own "newest work" query (`max(id)` of the outbox, of the orders
  queued for the geocoder), waking the lanes if one grew. A new connection (start-up,
  reconnection after an error) wakes them once, for what they may have missed.

`run_until_signalled` (the `flask worker` command) stops cleanly on SIGTERM or SIGINT: a
running tick or delivery pass finishes (every job commits as it goes), then the threads end.
"""
from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timezone
from dataclasses import dataclass
from typing import Callable

from flask import Flask

from core import outbox
from core.extensions import db
from core.scheduler import run_tick

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 0.5  # SQLite: how often another process's commit is looked for
RECONNECT_MAX_SECONDS = 30.0


@dataclass(frozen=True)
class Lane:
    """A job the worker runs as soon as a commit leaves it work, on a thread of its own.

    `newest` is SQL giving one growing number (a max id) that moves when another process
    commits new work for it: SQLite has no NOTIFY, so the watch polls it.
    """
    name: str
    job: Callable[[], object]
    newest: str


def register_delivery(app: Flask, lanes: list[Lane]) -> None:
    """The jobs a wake-up runs (they are in the tick's list too); create_app lists them."""
    app.extensions["restore24_delivery_lanes"] = list(lanes)


def delivery_lanes_of(app: Flask) -> list[Lane]:
    return list(app.extensions.get("restore24_delivery_lanes", []))


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
        self.passes = 0  # lane passes run on a wake-up
        self._count = threading.Lock()
        self._watching = threading.Event()
        self._ticked = threading.Event()
        self._lanes = [(lane, threading.Event()) for lane in delivery_lanes_of(app)]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._scheduler = None
        self._watch = watch

    # ------------------------------------------------------------ life cycle
    def start(self) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        outbox.on_alerts_committed(self.wake)
        for lane, wakeup in self._lanes:
            self._spawn(f"restore24-{lane.name}", lambda lane=lane, wakeup=wakeup: self._lane_loop(lane, wakeup))
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
        for _lane, wakeup in self._lanes:
            wakeup.set()
        self._ticked.set()
        self._watching.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        try:
            from core import heartbeat
            from core.scheduler import holder_id

            with self.app.app_context():
                heartbeat.forget(holder_id())
        except Exception:  # a stale row ages out of readiness on its own
            log.warning("worker heartbeat not removed", exc_info=True)
        log.info("worker stopped")

    def wake(self) -> None:
        """Ask every lane for a pass now. Only sets events: safe from any thread, including a request's."""
        for _lane, wakeup in self._lanes:
            wakeup.set()

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
        self._beat()
        try:
            run_tick(self.app)
        except Exception:  # the database may be away; the next tick tries again
            log.exception("tick failed")
        finally:
            self.ticks += 1
            self._beat(ticked=True)
            self._ticked.set()

    def _beat(self, ticked: bool = False) -> None:
        """The heartbeat /readyz looks for (core/heartbeat.py), in a transaction of its own."""
        try:
            from core import heartbeat
            from core.scheduler import holder_id

            with self.app.app_context():
                heartbeat.beat(holder_id(), self.interval, ticked=ticked)
        except Exception:  # the database may be away: readiness will say so
            log.warning("worker heartbeat not written", exc_info=True)

    def _lane_loop(self, lane: Lane, wakeup: threading.Event) -> None:
        while True:
            wakeup.wait()
            if self._stopping.is_set():
                return
            wakeup.clear()  # cleared before the pass: a commit during it asks for another
            with self._count:
                self.passes += 1
            with self.app.app_context():
                try:
                    lane.job()
                    db.session.commit()
                except Exception:  # the tick runs the same job again: what this pass could not do waits for it
                    db.session.rollback()
                    log.exception("worker lane %s failed", lane.name)

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
            top = self._newest(conn)
            self.wake()
            self._watching.set()
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            while not self._stopping.wait(self.poll):
                seen = conn.execute("PRAGMA data_version").fetchone()[0]
                if seen == version:
                    continue
                version = seen
                latest = self._newest(conn)
                if latest != top:  # one lane's newest work grew (a vacuum may lower one: wake anyway)
                    top = latest
                    self.wake()
        finally:
            conn.close()

    def _newest(self, conn) -> tuple[int, ...]:
        return tuple(conn.execute(lane.newest).fetchone()[0] or 0 for lane, _ in self._lanes)


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

