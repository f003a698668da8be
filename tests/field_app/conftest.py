"""Field app fixtures: a station with a technician on duty who has one job, a colleague, a dispatcher, van stock."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from testsupport import stock_technician_van

from core.extensions import db


@pytest.fixture
def shop(app, make_station, make_user, make_customer):
    """S01 with technician `tech` (on duty, assigned one DTV fault), `mate` (same station, off duty at intake),
    dispatcher `disp`; the order's customer sits inside S01."""
    from core.auth import get_user
    from dispatch.orders import services

    s1 = make_station("S01", lon=114.0, lat=22.5)
    tech = make_user("technician", username="tech", station=s1, skills=["digital_tv"])
    mate = make_user("technician", username="mate", station=s1, skills=["digital_tv"])
    disp = make_user("dispatcher", username="disp")
    customer = make_customer(lat=22.505, lon=114.005, phone="13812348000", name="Li Hua")
    with app.app_context():
        services.ensure_reference_data()
        services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        order = services.create_order({"customer_id": customer.id, "category": "DTV-MOSAIC",
                                       "description": "Picture breaks up", "channel": "hotline"},
                                      get_user(disp.id))
        assert order.technician_id == tech.id
        services.set_duty(get_user(mate.id), on_duty=True, shift="day")
        order_id = order.id
        db.session.commit()
    return SimpleNamespace(s1=s1, tech=tech, mate=mate, disp=disp, customer=customer, order_id=order_id)


@pytest.fixture
def van_stock(app, make_user):
    """10 × CONN-F and loaner units LN1, LN2 in the technician's van, through inventory's services."""
    def stock(tech: Any) -> str:
        return stock_technician_van(app, make_user, tech, ("LN1", "LN2"))
    return stock
