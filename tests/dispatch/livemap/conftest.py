"""Map fixtures: a small city (two stations, technicians on duty with positions) and an order factory."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable

import pytest

from core.extensions import db


@pytest.fixture
def city(app, make_station, make_user, make_customer):
    """S01 (114.00–114.01) and S02 (114.01–114.02) at lat 22.50–22.51; t1, t2 on duty at S01 and t3 at S02,
    each with a last known position; a dispatcher `disp`."""
    from core.auth import get_user
    from dispatch.orders import services

    s1 = make_station("S01", lon=114.0, lat=22.5)
    s2 = make_station("S02", lon=114.01, lat=22.5)
    t1 = make_user("technician", username="t1", station=s1, skills=["digital_tv", "cable_tv", "broadband", "installation"])
    t2 = make_user("technician", username="t2", station=s1, skills=["digital_tv", "broadband"])
    t3 = make_user("technician", username="t3", station=s2, skills=["digital_tv", "broadband", "cable_tv"])
    dispatcher = make_user("dispatcher", username="disp")
    customer = make_customer(lat=22.505, lon=114.005, phone="13812345678")
    with app.app_context():
        services.ensure_reference_data()
        for tech, point in ((t1, (22.501, 114.001)), (t2, (22.509, 114.009)), (t3, (22.505, 114.015))):
            services.set_duty(get_user(tech.id), on_duty=True, shift="day")
            services.record_position(tech.id, *point)
        db.session.commit()
    return SimpleNamespace(s1=s1, s2=s2, t1=t1, t2=t2, t3=t3, dispatcher=dispatcher, customer=customer)


@pytest.fixture
def make_order(app, city) -> Callable[..., int]:
    """make_order(lat, lon, category="DTV-MOSAIC", **fields) → the new order's id (placed and auto-assigned)."""
    def make(lat: float = 22.505, lon: float = 114.005, category: str = "DTV-MOSAIC", **fields: Any) -> int:
        from core.auth import get_user
        from dispatch.orders import services

        data = {"customer_id": city.customer.id, "category": category, "description": "No picture",
                "channel": "web", "lat": lat, "lon": lon, **fields}
        with app.app_context():
            order = services.create_order(data, get_user(city.dispatcher.id))
            db.session.commit()
            return order.id
    return make


@pytest.fixture
def order_action(app):
    """order_action(order_id, action, username, **payload): move an order as that user, committed."""
    def do(order_id: int, action: str, username: str, **payload: Any) -> None:
        from core.auth import find_user
        from dispatch.orders import services

        with app.app_context():
            services.transition(services.get_order(order_id), action, find_user(username), **payload)
            db.session.commit()
    return do
