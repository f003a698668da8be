"""The demo day loads through the services, deterministically, and leaves the clock alone."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from core.db import now
from core.extensions import db
from dispatch.orders import demo, services
from dispatch.orders.models import RepairOrder


@contextmanager
def _quiet(items, label):
    yield items


def _load(app, count: int):
    with app.app_context():
        made = demo.load_orders(24, _quiet, count=count)
        db.session.commit()
        rows = [(o.number, o.status, o.technician_id) for o in
                db.session.scalars(sa.select(RepairOrder).order_by(RepairOrder.id))]
        for order in db.session.scalars(sa.select(RepairOrder)):
            events = services.timeline(order)
            assert events[0].type == "created"
            moves = [e for e in events if e.to_status]
            assert moves[-1].to_status == order.status, order.number
        return made, rows


def test_demo_day(app, city, make_user, make_customer):
    make_user("dispatcher", username="dispatch-1")
    for k in range(5):
        make_customer(lat=22.501 + k * 0.001, lon=114.001 + k * 0.003)
    made, rows = _load(app, 60)
    assert made == 60 and len(rows) == 60
    statuses = {status for _n, status, _t in rows}
    assert {"assigned", "resolved", "closed"} <= statuses and len(statuses) >= 5
    assert abs(now() - datetime.now(timezone.utc)) < timedelta(seconds=5)  # clock given back
    with app.app_context():
        for order in db.session.scalars(sa.select(RepairOrder)):
            assert order.reported_at <= now()
