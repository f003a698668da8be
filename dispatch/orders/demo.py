"""The demo day: categories, SLA policies, technicians on their shifts, and several hundred orders
over the city in every state of their life — some overdue — all made through the services.

Deterministic: one seeded generator, and the clock (core.db.set_clock) walked through the day
while loading; times are laid out backwards from the hour the demo is loaded.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, Callable

import sqlalchemy as sa
from flask import current_app

from core import demo_city
from core.auth import find_user
from core.customers import Customer
from core.db import now, set_clock
from core.extensions import db
from dispatch.orders import services
from dispatch.orders.models import RepairOrder
from dispatch.orders.services.orders import TRANSITIONS

ORDERS = 420
ORDERS_SMALL = 80
HOURS = 30  # orders reported over the last 30 hours
CHANNELS = (("hotline", 60), ("web", 14), ("counter", 10), ("api", 10), ("open311", 6))
RESOLUTIONS = ("reseated_connector", "replaced_stb", "replaced_smartcard", "reset_modem", "replaced_modem",
               "spliced_cable", "spliced_fibre", "retuned_channels", "customer_training", "installed")
# how far an order got, by weight: (final action sequence)
PLANS: tuple[tuple[tuple[str, ...], int], ...] = (
    ((), 8),                                                     # assigned, not yet accepted
    (("accept",), 8),
    (("accept", "depart"), 6),
    (("accept", "depart", "arrive"), 6),
    (("accept", "depart", "arrive", "wait_customer"), 4),
    (("accept", "depart", "arrive", "wait_parts"), 4),
    (("accept", "depart", "arrive", "wait_customer", "resume", "resolve"), 4),
    (("accept", "depart", "arrive", "resolve"), 22),
    (("accept", "depart", "arrive", "resolve", "close"), 30),
    (("decline",), 3),
    (("cancel",), 3),
)


def _weighted(rng: random.Random, options: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([o for o, _w in options], weights=[w for _o, w in options])[0]


def load_duty(seed: int) -> None:
    """Technicians' shifts from the demo city; the day shift is on duty, last seen at their station."""
    rng = random.Random(f"{seed}-duty")
    areas = demo_city.station_areas(demo_city.load_districts(), seed=seed)
    for person in demo_city.people(areas, seed=seed):
        user = find_user(person.username)
        if user is None or person.role != "technician":
            continue
        services.set_duty(user, on_duty=person.shift == "day", shift=person.shift)
        if user.station is not None:
            services.record_position(user.id, user.station.lat + rng.uniform(-0.01, 0.01),
                                     user.station.lon + rng.uniform(-0.01, 0.01))


def load_orders(seed: int, progress: Callable[..., Any], count: int = ORDERS) -> int:
    """Several hundred orders over the last day and a half, walked through their life cycles."""
    rng = random.Random(f"{seed}-orders")
    dispatcher = find_user("dispatch-1")
    if dispatcher is None or db.session.scalar(sa.select(RepairOrder.id).limit(1)) is not None:
        return 0  # no staff yet, or orders loaded already: a second load doubles nothing
    customers = list(db.session.scalars(sa.select(Customer).order_by(Customer.id)))
    if not customers:
        return 0
    faults = [c for c in services.categories() if c.kind == "fault"]
    others = [c for c in services.categories() if c.kind != "fault"]
    anchor = now().replace(minute=0, second=0, microsecond=0)
    starts = sorted(anchor - timedelta(minutes=rng.randint(5, HOURS * 60)) for _ in range(count))
    geocoder = current_app.config.get("GEOCODER_DOMAIN")
    current_app.config["GEOCODER_DOMAIN"] = ""  # the demo never calls out to the internet
    clock = {"at": anchor}
    set_clock(lambda: clock["at"])
    made = 0
    try:
        with progress(starts, "orders") as bar:
            for reported in bar:
                clock["at"] = reported
                customer = rng.choice(customers)
                category = rng.choice(faults if rng.random() < 0.85 else others)
                body: dict[str, Any] = {"customer_id": customer.id, "category": category.code,
                                        "channel": _weighted(rng, CHANNELS),
                                        "description": f"{category.name} reported by {customer.name}"}
                if rng.random() < 0.03:  # a job away from home at an address no one can find: waits for a pin
                    body["address"] = f"{customer.name}'s shop, {rng.randint(1, 99)} Back Lane (no map point)"
                order = services.create_order(body, dispatcher, default_channel="hotline")
                made += 1
                _walk(order, _weighted(rng, PLANS), rng, dispatcher, anchor, clock)
                db.session.flush()
    finally:
        set_clock(None)
        current_app.config["GEOCODER_DOMAIN"] = geocoder
    return made


def _walk(order: Any, plan: tuple[str, ...], rng: random.Random, dispatcher: Any, anchor: datetime,
          clock: dict[str, datetime]) -> None:
    for action in plan:
        step = timedelta(minutes=rng.randint(10, 240 if action in ("resolve", "close") else 90))
        if clock["at"] + step >= anchor:
            return  # the day is not over yet for this order
        clock["at"] += step
        if order.status not in TRANSITIONS[action][0]:
            return
        tech = order.technician
        actor = tech if action in services.TECHNICIAN_ACTIONS and tech is not None else dispatcher
        if action in services.TECHNICIAN_ACTIONS and tech is None:
            return
        extra: dict[str, Any] = {}
        if action == "resolve":
            extra["resolution_code"] = rng.choice(RESOLUTIONS)
        point = {}
        if actor is tech and order.lat is not None and action in ("arrive", "resolve"):
            point = {"lat": order.lat, "lon": order.lon}
        services.transition(order, action, actor, **point, **extra)

