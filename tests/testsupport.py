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
