"""What dispatch logs about a customer: an order's geocoding failure names the customer, not the address."""
from __future__ import annotations

import logging
from urllib.parse import quote_plus

from core.auth import get_user
from dispatch.orders import services
from dispatch.orders.jobs import geocode_addresses
from logscan import demo_customers

ADDRESS = sorted(demo_customers()[1])[0]  # a demo customer's: the end-of-run log scan looks for these too


def test_geocoder_failure_is_logged_without_the_address(ctx, city, make_customer, nominatim, caplog):
    nominatim.down = True
    nowhere = make_customer(lat=None, lon=None, address=ADDRESS, phone="13900139000")
    with caplog.at_level(logging.DEBUG):
        order = services.create_order({"customer_id": nowhere.id, "category": "DTV-MOSAIC",
                                       "description": "No picture", "channel": "hotline"},
                                      get_user(city.dispatcher.id))
        geocode_addresses()
    assert order.needs_location and nominatim.queries == [ADDRESS]
    warning = next(r for r in caplog.records if r.name == "dispatch.orders.geocoding")
    assert warning.levelno == logging.WARNING and f"customer {nowhere.id}" in warning.getMessage()
    for secret in (ADDRESS, quote_plus(ADDRESS), "13900139000"):
        assert secret not in caplog.text, secret  # geopy's own debug line has the URL with the address
