"""Addresses to points through geopy (Nominatim at a configurable domain by default).

Geocoding is a convenience, never a dependency: when the service is down, slow or finds
nothing, `geocode` returns None and the order waits for a dispatcher to pin it.
It is network I/O, so it never runs inside a database transaction: intake queues the order
and the geocoder job (jobs.geocode_addresses) calls `geocode` with no transaction open.
"""
from __future__ import annotations

import logging
import threading
import time

from flask import current_app
from geopy.exc import GeopyError
from geopy.geocoders import Nominatim

from core.errors import Invalid, recovered
from core.geo import check_point

log = logging.getLogger(__name__)
_lock = threading.Lock()
_last_call = [0.0]


def _geocoder() -> Nominatim:
    cfg = current_app.config
    return Nominatim(user_agent=cfg["GEOCODER_USER_AGENT"], domain=cfg["GEOCODER_DOMAIN"],
                     scheme=cfg["GEOCODER_SCHEME"], timeout=cfg["GEOCODER_TIMEOUT"])


def is_configured() -> bool:
    return bool(current_app.config.get("GEOCODER_DOMAIN"))


def geocode(address: str, *, ref: str = "an address") -> tuple[float, float] | None:
    """(lat, lon) for an address, or None when it cannot be found right now.

    A failure is logged with `ref` (whose address it was: "a new order of customer 12") and the
    kind of error, never with the address: that is personal data, and geopy's messages carry it.
    """
    if not address or not address.strip() or not current_app.config.get("GEOCODER_DOMAIN"):
        return None
    delay = float(current_app.config.get("GEOCODER_MIN_DELAY_SECONDS") or 0)
    with _lock:  # Nominatim's usage policy: at most one request per second from this process
        wait = _last_call[0] + delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        _last_call[0] = time.monotonic()
        try:
            location = _geocoder().geocode(address.strip(), exactly_one=True)
        except (GeopyError, OSError, ValueError) as err:
            log.warning("geocoding failed for %s: %s", ref, type(err).__name__)
            return None
    if location is None:
        return None
    try:
        return check_point(location.latitude, location.longitude)
    except Invalid as err:
        recovered(err)  # a geocoder's odd answer is no answer, not a refusal of the request
        return None
