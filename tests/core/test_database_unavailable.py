"""A database that cannot be reached (PostgreSQL restarting, down) is a clean 503 with
Retry-After — JSON for the API, a short page for a browser — never a 500. Runs on both passes:
the app under test points at a PostgreSQL port where nothing listens."""
from __future__ import annotations

import socket

import pytest

from testsupport import make_app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def down_app(tmp_path):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/restore24_down"
    app = make_app(url, str(tmp_path), SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}})
    yield app
    from core.extensions import db

    with app.app_context():
        db.engine.dispose()


def test_an_unreachable_database_is_a_json_503(down_app):
    resp = down_app.test_client().post("/api/v1/auth/tokens", json={"username": "someone", "password": "x"})
    assert resp.status_code == 503
    assert resp.get_json()["error"]["code"] == "unavailable"
    assert resp.headers["Retry-After"].isdigit()


def test_an_unreachable_database_is_the_503_page(down_app):
    resp = down_app.test_client().post("/login", data={"username": "someone", "password": "x"})
    assert resp.status_code == 503
    assert "Try again in a moment" in resp.get_data(as_text=True)
    assert "Retry-After" in resp.headers
