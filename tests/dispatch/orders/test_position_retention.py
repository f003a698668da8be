"""Technicians' positions are deleted after the retention period by a periodic job."""
from __future__ import annotations

from datetime import timedelta

from core import auth
from core.extensions import db
from dispatch.orders.jobs import position_retention
from dispatch.orders.models import OrderEvent, TechnicianDuty
from dispatch.orders.services.assignment import record_position


def test_old_positions_are_deleted_recent_ones_kept(app, make_user, make_station, clock):
    station = make_station()
    old_tech = make_user("technician", station=station)
    new_tech = make_user("technician", station=station)
    with app.app_context():
        record_position(old_tech.id, 22.51, 114.01, clock.current - timedelta(days=31))
        record_position(new_tech.id, 22.52, 114.02, clock.current - timedelta(days=29))
        db.session.commit()
        summary = position_retention()
        db.session.commit()
        assert summary.startswith("1 last positions")
        old = db.session.get(TechnicianDuty, old_tech.id)
        new = db.session.get(TechnicianDuty, new_tech.id)
        assert old.last_lat is None and old.last_at is None
        assert (new.last_lat, new.last_lon) == (22.52, 114.02)
        assert db.session.get(auth.User, old_tech.id) is not None  # only the position goes


def test_event_positions_expire_but_events_stay(app, city, clock):
    from dispatch.orders import services
    from dispatch.orders.services.assignment import forget_positions

    with app.app_context():
        disp = auth.get_user(city.dispatcher.id)
        order = services.create_order({"customer_id": city.customer.id, "category": "DTV-MOSAIC",
                                       "description": "no signal"}, disp)
        tech = auth.get_user(order.technician_id)
        services.transition(order, "accept", tech, lat=22.506, lon=114.006)
        db.session.commit()
        order_id = order.id
        clock.advance(days=31)
        gone = forget_positions(clock.current - timedelta(days=30))
        db.session.commit()
        assert gone["event_positions"] == 1
        events = db.session.query(OrderEvent).filter_by(order_id=order_id).all()
        assert any(e.type == "accepted" for e in events)  # the timeline keeps every step
        assert all(e.lat is None and e.lon is None for e in events)
