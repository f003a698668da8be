"""Callback and scorecard fixtures: a small city and a history builder that drives orders through
the orders helper's services on a frozen clock (times are UTC; the operator's zone is UTC+8)."""
from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from core.auth import get_user
from core.extensions import db


def square(lon: float, lat: float, size: float = 0.01) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size],
                                                [lon, lat + size], [lon, lat]]]}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def city(app, make_station, make_user, make_customer):
    """S01 (t1, t2, supervisor sup1) and S02 (t3); a dispatcher; customers c1..c3 in S01, c4 in S02."""
    from dispatch.orders import services

    s1 = make_station("S01", lon=114.0, lat=22.5, name="North")
    s2 = make_station("S02", lon=114.01, lat=22.5, name="South")
    t1 = make_user("technician", username="t1", station=s1, skills=["digital_tv", "cable_tv", "broadband"])
    t2 = make_user("technician", username="t2", station=s1, skills=["digital_tv", "cable_tv", "broadband"])
    t3 = make_user("technician", username="t3", station=s2, skills=["digital_tv", "cable_tv", "broadband"])
    dispatcher = make_user("dispatcher", username="disp")
    supervisor = make_user("supervisor", username="sup1", station=s1)
    admin = make_user("admin", username="boss")
    c = [make_customer(lat=22.505, lon=114.005) for _ in range(3)] + [make_customer(lat=22.505, lon=114.015)]
    with app.app_context():
        services.ensure_reference_data()
        for tech in (t1, t2, t3):
            services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        db.session.commit()
    return SimpleNamespace(s1=s1, s2=s2, t1=t1, t2=t2, t3=t3, dispatcher=dispatcher, supervisor=supervisor,
                           admin=admin, c1=c[0], c2=c[1], c3=c[2], c4=c[3])


class History:
    """Builds order histories through the real services, one committed step at a time."""

    def __init__(self, app: Any, clock: Any, city: Any):
        self.app, self.clock, self.city = app, clock, city

    def order(self, reported: datetime, tech: Any = None, customer: Any = None, category: str = "DTV-MOSAIC") -> int:
        from dispatch.orders import services
        tech = tech or self.city.t1
        self.clock.set(reported)
        with self.app.app_context():
            disp = get_user(self.city.dispatcher.id)
            order = services.create_order({"customer_id": (customer or self.city.c1).id, "category": category,
                                           "description": "test"}, disp)
            if order.technician_id != tech.id:
                services.assign(order, disp, technician_id=tech.id, reason="test")
            db.session.commit()
            return order.id

    def act(self, order_id: int, at: datetime, action: str, who: str = "tech", **payload: Any) -> None:
        from dispatch.orders import services
        self.clock.set(at)
        with self.app.app_context():
            order = services.get_order(order_id)
            actor = get_user(order.technician_id if who == "tech" else self.city.dispatcher.id)
            if action == "resolve":
                payload.setdefault("resolution_code", "FIXED")
            services.transition(order, action, actor, **payload)
            db.session.commit()

    def resolve(self, order_id: int, at: datetime) -> None:
        """Accept, go and resolve at `at` (whatever steps the order still needs)."""
        from dispatch.orders import services
        with self.app.app_context():
            status = services.get_order(order_id).status
        steps = {"assigned": ["accept", "depart", "arrive"], "accepted": ["depart", "arrive"],
                 "en_route": ["arrive"]}.get(status, [])
        for step in steps:
            self.act(order_id, at, step)
        self.act(order_id, at, "resolve")

    def callback(self, order_id: int, at: datetime, **answers: Any) -> Any:
        from dispatch.reports.services import callbacks
        self.clock.set(at)
        with self.app.app_context():
            order = callbacks.order_for_callback(order_id)
            cb = callbacks.record_callback(order, answers, get_user(self.city.dispatcher.id))
            db.session.commit()
            return SimpleNamespace(id=cb.id, status=cb.status, follow_up=cb.follow_up,
                                   follow_up_order_id=cb.follow_up_order_id)

    def escalate(self, order_id: int, at: datetime, level: int) -> None:
        """What the SLA job records on a breach (issue 5 owns the job): an escalated event and the level."""
        from dispatch.orders import services
        self.clock.set(at)
        with self.app.app_context():
            order = services.get_order(order_id)
            services.add_event(order, "escalated", None, level=level)
            order.escalation_level = level
            db.session.commit()

    def status(self, order_id: int) -> str:
        from dispatch.orders import services
        with self.app.app_context():
            return services.get_order(order_id).status


@pytest.fixture
def history(app, clock, city):
    return History(app, clock, city)


@pytest.fixture
def form_happy() -> dict[str, str]:
    """A callback form filled in with good answers, as the browser sends it."""
    return {"reached": "yes", "fixed": "yes", "appointment_made": "yes", "on_time": "no", "guided": "yes",
            "satisfaction": "5", "comment": "fine"}


@pytest.fixture
def two(history, city, clock):
    """A: t1 S01 resolved on time (10 h); B: t3 S02 resolved late (30 h). Now: 03-04 00:00."""
    a = history.order(utc(2026, 3, 2, 0), city.t1, city.c1)
    history.resolve(a, utc(2026, 3, 2, 10))
    b = history.order(utc(2026, 3, 2, 0), city.t3, city.c4, category="BB-SLOW")
    history.resolve(b, utc(2026, 3, 3, 6))
    clock.set(utc(2026, 3, 4, 0))
    return {"A": a, "B": b}
