"""The customer's survey link names the host from the settings, never the request's Host header."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from core.extensions import db
from testsupport import PASSWORD


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def resolved(history, city, clock):
    order_id = history.order(utc(2026, 3, 2, 0), city.t1, city.c1)
    history.resolve(order_id, utc(2026, 3, 2, 10))
    clock.set(utc(2026, 3, 4, 0))
    return order_id


def _issue(app, city, order_id):
    """A dispatcher issues the link on a request whose Host header an attacker chose."""
    staff = app.test_client()
    evil = "http://evil.example"
    assert staff.post("/login", data={"username": city.dispatcher.username, "password": PASSWORD},
                      base_url=evil).status_code == 302
    return staff.post(f"/reports/callbacks/{order_id}/link", base_url=evil, follow_redirects=True)


def test_the_survey_link_uses_the_public_base_url(new_app, city, resolved):
    app = new_app(PUBLIC_BASE_URL="https://restore24.example.org")
    page = _issue(app, city, resolved).get_data(as_text=True)
    assert re.search(r"https://restore24\.example\.org/reports/feedback/[A-Za-z0-9_-]{20,}", page)
    assert "evil.example/reports" not in page


def test_without_a_public_address_production_refuses_to_build_the_link(new_app, city, resolved):
    from dispatch.reports.models import Callback
    app = new_app(TESTING=False)
    resp = _issue(app, city, resolved)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "PUBLIC_BASE_URL" in page and "evil.example/reports" not in page
    with app.app_context():  # nothing was issued
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Callback)
                                 .where(Callback.token_hash.is_not(None))) == 0
