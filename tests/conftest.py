"""Fixtures for every test: the app on SQLite or PostgreSQL, a clean database per test,
factories, a frozen clock and a login helper.

The suite runs on SQLite by default and on PostgreSQL with TEST_DATABASE=postgres and
TEST_POSTGRES_URL set (the Makefile does both). Each pytest process makes its own
PostgreSQL database, so several runs can share one server.
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any, Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core import auth, customers, stations
from core.db import set_clock
from core.extensions import db

from testsupport import PASSWORD, USE_POSTGRES, make_app, square  # noqa: F401  (re-exported)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if not USE_POSTGRES:
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/test.db"
        return
    base = make_url(os.environ["TEST_POSTGRES_URL"])
    name = f"r24_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield base.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    from flask_migrate import upgrade

    from core.i18n import compile_catalogs

    compile_catalogs()
    application = make_app(database_url, str(tmp_path_factory.mktemp("instance")))
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def new_app(database_url, tmp_path):
    """Another app on the same database with other settings; its connections are closed after."""
    made = []

    def make(instance_path: str | None = None, **extra: Any):
        application = make_app(database_url, instance_path or str(tmp_path), **extra)
        made.append(application)
        return application
    yield make
    for application in made:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def _truncate_all() -> None:
    """Empty every table a test wrote to and restart the ids it used.

    Only the tables that hold rows are emptied (DELETE, children first) and only the id sequences
    that were used are restarted: a TRUNCATE of all thirty tables costs ~200 ms on PostgreSQL,
    this a few ms, and the suite runs it after each of ~900 tests.
    """
    existing = set(sa.inspect(db.engine).get_table_names())  # test_schema catches unmigrated models
    tables = [t for t in db.metadata.sorted_tables if t.name in existing]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            used = conn.execute(sa.text(_pg_used_query(tables))).all()
            # no triggers for this cleanup: the append-only ledgers refuse DELETE, which is right for the app
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            holding = {name for name, has_rows, _ in used if has_rows}
            for table in reversed(tables):
                if table.name in holding:
                    conn.execute(table.delete())
            for _, _, sequence in used:
                if sequence:
                    conn.execute(sa.text("SELECT setval(:s, 1, false)"), {"s": sequence})
        else:
            for table in reversed(tables):
                conn.execute(table.delete())


def _pg_used_query(tables: list[sa.Table]) -> str:
    """One query: per table, whether it holds rows and its id sequence if that was used."""
    parts = []
    for table in tables:
        pk = list(table.primary_key.columns)
        serial = len(pk) == 1 and pk[0].autoincrement in (True, "auto") and isinstance(pk[0].type, sa.Integer)
        seq = f"pg_get_serial_sequence('\"{table.name}\"', '{pk[0].name}')" if serial else "NULL"
        used = f"CASE WHEN pg_sequence_last_value({seq}) IS NOT NULL THEN {seq} END" if serial else "NULL"
        parts.append(f"SELECT '{table.name}', EXISTS (SELECT 1 FROM \"{table.name}\"), {used}")
    return " UNION ALL ".join(parts)


@pytest.fixture(autouse=True)
def _isolated(app):
    """Every test starts with an empty database and the real clock."""
    yield
    set_clock(None)
    with app.app_context():
        db.session.remove()
        _truncate_all()


@pytest.fixture
def ctx(app):
    """An app context for service tests. Do not use the test client inside it."""
    with app.app_context():
        yield
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Clock:
    """A frozen `core.db.now()` that tests move by hand."""

    def __init__(self, start: datetime):
        self.current = start
        set_clock(lambda: self.current)

    def set(self, when: datetime) -> None:
        self.current = when

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current


@pytest.fixture
def clock():
    return Clock(datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc))


def _detached(obj: Any) -> Any:
    db.session.refresh(obj)
    db.session.expunge(obj)
    return obj


@pytest.fixture
def make_station(app) -> Callable[..., stations.Station]:
    counter = iter(range(1, 10_000))

    def make(code: str | None = None, *, lon: float = 114.0, lat: float = 22.5, size: float = 0.01,
             coverage: dict | None = None, **fields: Any) -> stations.Station:
        n = next(counter)
        with app.app_context():
            st = stations.create_station(
                code=code or f"S{n:02d}", name=fields.pop("name", f"Station {n}"),
                lat=fields.pop("point_lat", lat + size / 2), lon=fields.pop("point_lon", lon + size / 2),
                coverage=coverage or square(lon, lat, size), **fields)
            db.session.commit()
            return _detached(st)
    return make


@pytest.fixture
def make_user(app) -> Callable[..., auth.User]:
    counter = iter(range(1, 10_000))

    def make(role: str = "dispatcher", *, username: str | None = None, station: Any = None,
             password: str = PASSWORD, **fields: Any) -> auth.User:
        n = next(counter)
        with app.app_context():
            st = db.session.get(stations.Station, station.id) if station is not None else None
            if st is None and role in auth.STATION_ROLES:
                st = db.session.scalar(sa.select(stations.Station).order_by(stations.Station.id))
                if st is None:
                    st = stations.create_station(code=f"ZZ{n:02d}", name="Auto station", lat=22.505, lon=114.005,
                                                 coverage=square(114.0, 22.5))
            user = auth.create_user(username or f"{role}-{n}", role, password, station=st, **fields)
            db.session.commit()
            return _detached(user)
    return make


@pytest.fixture
def make_customer(app) -> Callable[..., customers.Customer]:
    counter = iter(range(1, 100_000))

    def make(**fields: Any) -> customers.Customer:
        n = next(counter)
        data = {"account_no": f"880{n:07d}", "name": f"Customer {n}", "phone": f"1380000{n:04d}",
                "address": f"{n} Shennan Road", "lat": 22.505, "lon": 114.005, "segment": "residential",
                "services": ["digital_tv"]}
        data.update(fields)
        with app.app_context():
            c = customers.create_customer(**data)
            db.session.commit()
            return _detached(c)
    return make


@pytest.fixture
def login(client):
    """Log the test client in as a user; returns the response of the login POST."""
    def do(user: Any, password: str = PASSWORD, c: Any = None):
        target = c or client
        resp = target.post("/login", data={"username": user.username, "password": password})
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return resp
    return do


@pytest.fixture
def as_role(make_user, login):
    """Create a user of a role and log the client in as them."""
    def do(role: str, **fields: Any) -> auth.User:
        user = make_user(role, **fields)
        login(user)
        return user
    return do


@pytest.fixture
def token_for(client):
    def do(user: Any, password: str = PASSWORD) -> dict[str, str]:
        resp = client.post("/api/v1/auth/tokens", json={"username": user.username, "password": password})
        assert resp.status_code == 201, resp.get_json()
        return {"Authorization": f"Bearer {resp.get_json()['token']}"}
    return do


def ns(**kw: Any) -> SimpleNamespace:
    return SimpleNamespace(**kw)


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests (real concurrency) are left out of the SQLite pass, and SQLite-only ones
    (its write lock) out of the PostgreSQL pass: deselected, not skipped.

    The slow tests go first, so that xdist's workers start them early and no one ends the run alone.
    """
    other = "sqlite_only" if USE_POSTGRES else "postgres_only"
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker(other) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)



# --------------------------------------------------------------------------- personal data in logs

LOG_RUNS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test-artifacts", "logs")
LOG_RUN_ENV = "RESTORE24_TEST_LOG_RUN"  # set by the first process, inherited by xdist's workers
_LOG_SCAN = pytest.StashKey[tuple]()


def pytest_configure(config):
    """Every log record of the run (DEBUG, with tracebacks) goes to test-artifacts/logs/<run>/<worker>.log,
    which pytest_sessionfinish scans for the customers' phone numbers and addresses."""
    import logging

    run = os.environ.setdefault(LOG_RUN_ENV, f"run-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    worker = getattr(config, "workerinput", {}).get("workerid", "main")
    folder = os.path.join(LOG_RUNS, run)
    os.makedirs(folder, exist_ok=True)
    handler = logging.FileHandler(os.path.join(folder, f"{worker}.log"), encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)  # not every statement: echo is off in use too
    config.stash[_LOG_SCAN] = (handler, folder)


@pytest.fixture(autouse=True)
def _all_logs_to_file(app, request):
    """Alembic's fileConfig (the app fixture's upgrade) closes the root logger's handlers, puts its
    stderr handler there and the level at WARN: ours goes back, and the stderr one keeps to warnings."""
    import logging

    handler, _ = request.config.stash.get(_LOG_SCAN, (None, None))
    root = logging.getLogger()
    if handler is None or (handler in root.handlers and root.level == logging.DEBUG):
        return
    for other in root.handlers:
        if type(other) is logging.StreamHandler and other.level == logging.NOTSET:
            other.setLevel(logging.WARNING)
    if handler not in root.handlers:
        root.addHandler(handler)
    root.setLevel(logging.DEBUG)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run when a log line carries a phone number or a demo customer's street address.

    Under xdist the workers only write; the controller, which finishes last, scans every file.
    A clean run's logs are deleted (unless RESTORE24_KEEP_TEST_LOGS is set); a leaking run's are kept.
    """
    import logging
    import shutil

    from logscan import leaked_lines

    handler, folder = session.config.stash.get(_LOG_SCAN, (None, None))
    if handler is None:
        return
    logging.getLogger().removeHandler(handler)
    handler.close()
    if hasattr(session.config, "workerinput"):
        return
    leaks = leaked_lines(folder)
    if not leaks:
        if not os.environ.get("RESTORE24_KEEP_TEST_LOGS"):
            shutil.rmtree(folder, ignore_errors=True)
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    say = (lambda text: reporter.write_line(text, red=True)) if reporter else print
    say(f"personal data in the logs: {len(leaks)} lines, kept in {folder}")
    for name, line in leaks[:20]:
        say(f"  {name}: {line[:300]}")
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def count_queries(app):
    """`with count_queries() as seen:` — the SQL statements the app's engine ran inside the block."""
    @contextmanager
    def counting():
        with app.app_context():
            engine = db.engine
        seen: list[str] = []

        def before(conn, cursor, statement, parameters, context, executemany):
            seen.append(statement)
        sa.event.listen(engine, "before_cursor_execute", before)
        try:
            yield seen
        finally:
            sa.event.remove(engine, "before_cursor_execute", before)
    return counting
