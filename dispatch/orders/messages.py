"""The texts the order services store (placement reasons, timeline notes, alerts), by code.

Rendered in the reader's language when shown (core.messages); the rows keep the English text too.
"""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from core.messages import Messages


def category_name(code: Any) -> str:
    """A category code as its name in the current language (the code itself if it is gone)."""
    import sqlalchemy as sa

    from core.extensions import db
    from core.i18n import current_language
    from dispatch.orders.models import Category
    cat = db.session.scalar(sa.select(Category).where(Category.code == str(code)))
    return cat.label(current_language()) if cat is not None else str(code)


def station_area(station_id: Any) -> str:
    """What a lock screen may show of where a job is: its station's district, never the address."""
    from core.extensions import db
    from core.stations import Station
    station = db.session.get(Station, station_id) if isinstance(station_id, int) else None
    return (station.district or station.name) if station else ""


REFS = {"category": category_name, "area": station_area}

MESSAGES = Messages({
    # placement reasons (RepairOrder.placement_code)
    "placement.inside": _l("inside %(code)s's area"),
    "placement.nearest": _l("nearest: %(code)s, %(km)s km"),
    "placement.by_hand": _l("moved to %(code)s by hand"),
    "placement.after_decline": _l("after a decline"),
    # timeline notes written by the services (OrderEvent.data["msg"])
    "order.assigned_to": _l("%(reason)s → %(technician)s"),
    "order.no_technician": _l("%(reason)s; no technician available"),
    "order.no_one_on_shift": _l("%(reason)s; no technician available; no one is on shift at %(code)s: "
                                "the order waits in the supervisor's queue"),
    "order.waiting_geocoder": _l("Waiting for the geocoder to find the address; a dispatcher may pin it meanwhile."),
    "order.no_location": _l("No location found; waiting for a dispatcher to pin it."),
    "order.no_stations": _l("No stations are set up; the order waits."),
    "order.outside_area": _l("Taken outside the service area (%(km)s km from %(code)s's area), "
                             "confirmed by the dispatcher."),
    "order.geocoded": _l("Located by the geocoder."),
    "order.geocoder_gave_up": _l("The geocoder found no location for the address after %(n)d tries; "
                                 "waiting for a dispatcher to pin it."),
    "order.previous_told": _l("previous technician told"),
    # alerts (Notification.message_code): (title, body)
    "alert.order_assigned": (_l("New job %(number)s"), _l("%(category)s — %(area)s")),
    "alert.order_unassigned": (_l("Job %(number)s was taken off your list"),
                               _l("You no longer need to go to this job (%(area)s).")),
}, refs=REFS)

stored = MESSAGES.stored
