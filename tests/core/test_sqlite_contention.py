"""SQLite under contention: a writer that cannot get the write lock within the busy timeout gets
a clean 503 with Retry-After (JSON for the API, the error page for pages), never a 500, and
nothing of its request is saved. The lock is real: a second connection holds BEGIN IMMEDIATE."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from core.auth import ApiToken
from core.extensions import db

from testsupport import PASSWORD

# SQLite's write lock: left out of the PostgreSQL pass (whose faults are in tests/chaos), never skipped
pytestmark = pytest.mark.sqlite_only


@contextmanager
def write_lock_held(database_url: str):
    """Another process's writer, as far as the app can tell: holds the write lock until released."""
    holder = sqlite3.connect(make_url(database_url).database, isolation_level=None, timeout=5)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.fixture
def busy_app(new_app, database_url):
    return new_app(SQLITE_BUSY_TIMEOUT_SECONDS=0.2)


def _tokens(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken))


def test_a_locked_database_is_a_json_503_with_retry_after_and_saves_nothing(busy_app, database_url, make_user):
    user = make_user("dispatcher")
    client = busy_app.test_client()
    with write_lock_held(database_url):
        resp = client.post("/api/v1/auth/tokens", json={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 503
    assert resp.headers["Retry-After"].isdigit()
    assert resp.get_json()["error"]["code"] == "unavailable"
    assert _tokens(busy_app) == 0
    # once the lock is gone the same request goes through
    again = client.post("/api/v1/auth/tokens", json={"username": user.username, "password": PASSWORD})
    assert again.status_code == 201
    assert _tokens(busy_app) == 1


def test_a_locked_database_is_the_503_page_for_a_browser(busy_app, database_url, make_user):
    user = make_user("dispatcher")
    client = busy_app.test_client()
    assert client.post("/login", data={"username": user.username, "password": PASSWORD}).status_code == 302
    with write_lock_held(database_url):
        resp = client.get("/dispatch/")
    assert resp.status_code == 503
    assert "Retry-After" in resp.headers
    assert "Try again in a moment" in resp.get_data(as_text=True)


def test_the_wait_is_the_configured_busy_timeout(busy_app):
    with busy_app.app_context():
        assert db.session.connection().exec_driver_sql("PRAGMA busy_timeout").scalar() == 200
        db.session.rollback()


def test_other_sqlite_errors_stay_errors(busy_app):
    """Only the lock is a passing condition; a broken statement is still a logged 500."""
    from core.errors import database_unavailable

    with busy_app.app_context():
        try:
            db.session.execute(sa.text("SELECT * FROM no_such_table"))
        except sa.exc.OperationalError as err:
            assert not database_unavailable(err)
        else:
            pytest.fail("the statement should have failed")
        finally:
            db.session.rollback()


def test_the_503_page_is_in_the_browsers_language(busy_app, database_url, make_user):
    user = make_user("dispatcher")
    client = busy_app.test_client()
    assert client.post("/login", data={"username": user.username, "password": PASSWORD}).status_code == 302
    with write_lock_held(database_url):
        resp = client.get("/dispatch/", headers={"Accept-Language": "zh-CN"})
    assert resp.status_code == 503
    assert "请稍后重试" in resp.get_data(as_text=True)
