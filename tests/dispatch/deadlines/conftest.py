"""Deadline-clock fixtures: a small city with every role that receives SLA alerts, and an order maker."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from core.extensions import db


@pytest.fixture
def city(app, clock, make_station, make_user, make_customer):
    """Stations S01 and S02 side by side; technicians on duty t1 (S01), t3 (S02); two dispatchers
    (one disabled); supervisors of S01 and of S02; a centre manager; an admin."""
    from dispatch.orders import services

    s1 = make_station("S01", lon=114.0, lat=22.5)
    s2 = make_station("S02", lon=114.01, lat=22.5)
    t1 = make_user("technician", username="t1", station=s1, skills=["digital_tv", "cable_tv", "broadband"])
    t3 = make_user("technician", username="t3", station=s2, skills=["digital_tv", "cable_tv", "broadband"])
    people = SimpleNamespace(
        s1=s1, s2=s2, t1=t1, t3=t3,
        disp=make_user("dispatcher", username="disp"),
        disp_off=make_user("dispatcher", username="disp-off"),
        sup1=make_user("supervisor", username="sup1", station=s1),
        sup2=make_user("supervisor", username="sup2", station=s2),
        boss=make_user("supervisor", username="boss", station=None),
        admin=make_user("admin", username="root"),
        customer=make_customer(lat=22.505, lon=114.005),
        customer2=make_customer(lat=22.505, lon=114.015),
    )
    with app.app_context():
        services.ensure_reference_data()
        from core.auth import get_user, set_enabled
        set_enabled(get_user(people.disp_off.id), False)
        for tech in (t1, t3):
            services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        db.session.commit()
    return people


@pytest.fixture
def make_order(app, city):
    """Create (and commit) an order through the orders service; returns its id."""
    def make(customer: Any = None, category: str = "DTV-MOSAIC", lat: float | None = None,
             lon: float | None = None, **extra: Any) -> int:
        from dispatch.orders import services
        customer = customer or city.customer
        data = {"customer_id": customer.id, "category": category, "description": "No picture",
                "lat": customer.lat if lat is None else lat, "lon": customer.lon if lon is None else lon}
        data.update(extra)
        with app.app_context():
            order = services.create_order(data, None)
            db.session.commit()
            return order.id
    return make


@pytest.fixture
def act(app):
    """Run one life-cycle action as a user (by id) and commit."""
    def do(order_id: int, action: str, user: Any, **payload: Any) -> None:
        from core.auth import get_user
        from dispatch.orders import services
        with app.app_context():
            services.transition(services.get_order(order_id), action, get_user(user.id), **payload)
            db.session.commit()
    return do
