"""Fixtures for the field tests: a local push service the app is allowed to post to.

Test modules import them (`from push_fixtures import ...`): a conftest.py here would be
registered as the module `conftest` and shadow tests/conftest.py for tests/e2e/.
"""
from __future__ import annotations

from typing import Any

import pytest

from pushservice import PushService


@pytest.fixture
def push_service(app):
    """A push service on 127.0.0.1 whose origin is in PUSH_ALLOWED_ORIGINS for this test."""
    service = PushService()
    saved = app.config["PUSH_ALLOWED_ORIGINS"]
    app.config["PUSH_ALLOWED_ORIGINS"] = [*saved, service.origin]
    yield service
    app.config["PUSH_ALLOWED_ORIGINS"] = saved
    service.close()


@pytest.fixture
def subscribe(app):
    """Store a device of the push service for a user, as the API would."""
    def do(user: Any, device: Any) -> int:
        from core.extensions import db
        from field import services
        with app.app_context():
            sub = services.subscribe(user, device.subscription())
            db.session.commit()
            return sub.id
    return do


@pytest.fixture
def alert(app):
    """Enqueue one alert for a user and commit it, as a cause's transaction would."""
    counter = iter(range(1, 1_000_000))

    def do(user: Any, **fields: Any) -> int:
        from core import auth, outbox
        from core.extensions import db
        n = next(counter)
        data = {"kind": "assigned", "cause": f"test:{n}", "title": f"Order R{n} assigned to you",
                "body": "Futian, fault: no signal", "url": f"/field/orders/{n}", "order_id": n}
        data.update(fields)
        with app.app_context():
            note = outbox.enqueue(data.pop("kind"), db.session.get(auth.User, user.id), **data)
            db.session.commit()
            return note.id
    return do


@pytest.fixture
def deliver(app):
    def do(**kw: Any) -> dict[str, int]:
        from field import push
        with app.app_context():
            return push.deliver_due(**kw)
    return do
