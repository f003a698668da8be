"""Jobs of repair orders: technicians' positions forgotten after the retention period, and the
geocoder (woken by the intake's commit as well as run by the tick)."""
from __future__ import annotations


def position_retention() -> str:
    """Positions older than POSITION_RETENTION_DAYS are deleted."""
    from datetime import timedelta

    from flask import current_app

    from core.db import now
    from dispatch.orders.services.assignment import forget_positions

    days = int(current_app.config.get("POSITION_RETENTION_DAYS", 30))
    gone = forget_positions(now() - timedelta(days=days))
    return f"{gone['last_positions']} last positions, {gone['event_positions']} event positions older than {days} days removed"


# the worker's SQLite watch: grows when another process queues an address for the geocoder
NEWEST_GEOCODE_SQL = "SELECT max(id) FROM repair_orders WHERE geocode_after IS NOT NULL"


def geocode_addresses() -> str:
    """Orders queued at intake get their address geocoded, then are placed and assigned.

    The geocoder is a network call, so it runs with no transaction open (on SQLite the open one
    would hold the write lock and every other request would wait for the geocoder): the due
    orders are read and that transaction ends, then each answer is written in a short
    transaction of its own. At most GEOCODER_BATCH orders a tick (each call may take
    GEOCODER_TIMEOUT); the rest wait for the next tick.
    """
    from collections import Counter

    from flask import current_app
    from sqlalchemy.orm.exc import StaleDataError

    from core.extensions import db
    from dispatch.orders import geocoding, services

    due = services.awaiting_geocoder(int(current_app.config.get("GEOCODER_BATCH", 10)))
    db.session.commit()  # nothing is held while the geocoder answers
    outcomes: Counter[str] = Counter()
    for order_id, address, customer_id in due:
        point = geocoding.geocode(address, ref=f"order {order_id} of customer {customer_id}")
        try:
            outcomes[services.record_geocode(order_id, address, point)] += 1
            db.session.commit()
        except StaleDataError:  # a dispatcher changed it meanwhile: theirs stands
            db.session.rollback()
            outcomes["skipped"] += 1
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items())) or "nothing to geocode"
