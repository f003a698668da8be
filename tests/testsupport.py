"""Helpers shared by the test packages (import from here, not from conftest: several
conftest.py files exist and `from conftest import` would find whichever was loaded first)."""
from __future__ import annotations

import os
from typing import Any

from app import create_app

PASSWORD = "password123"
USE_POSTGRES = os.environ.get("TEST_DATABASE") == "postgres"


def square(lon: float, lat: float, size: float = 0.01) -> dict[str, Any]:
    """A square coverage area with its south-west corner at (lon, lat)."""
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size],
                                                [lon, lat + size], [lon, lat]]]}


def make_app(database_url: str, instance_path: str, **extra: Any):
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "WTF_CSRF_ENABLED": False,
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # fast hashing; production keeps scrypt
        "SECRET_KEY": "test-secret",
        "INSTANCE_PATH": instance_path,
        "SCHEDULER_ENABLED": False,
        "GEOCODER_DOMAIN": "",  # no internet: tests that geocode start their own Nominatim
    }
    config.update(extra)
    return create_app(config)


def stock_technician_van(app: Any, make_user: Any, tech: Any, loaners: tuple[str, ...] = ("LN1",)) -> str:
    """Put 10 × CONN-F and loaner set-top boxes into a technician's van through inventory's
    services (as a stock keeper of their station would); returns the van's location code."""
    from types import SimpleNamespace

    from core.auth import get_user
    from core.extensions import db
    from inventory import services as inventory

    keeper = make_user("stockkeeper", station=SimpleNamespace(id=tech.station_id))
    with app.app_context():
        keeper_user = get_user(keeper.id)
        inventory.ensure_locations()
        inventory.save_item(sku="CONN-F", name="F connector", category="connector", actor=keeper_user)
        inventory.save_item(sku="STB-LOAN", name="Loaner set-top box", category="set_top_box",
                            is_serialized=True, actor=keeper_user)
        van = inventory.van_of(get_user(tech.id)).code
        inventory.receive_batch("CONN-F", van, keeper_user, qty=10)
        if loaners:
            inventory.receive_batch("STB-LOAN", van, keeper_user, serials=loaners)
        db.session.commit()
    return van
