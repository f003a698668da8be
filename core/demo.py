"""The demo city: Shenzhen's four original districts, 16 stations, staff and customers."""
from __future__ import annotations

from typing import Any, Callable

import sqlalchemy as sa

from core import auth, customers, demo_city, stations
from core.extensions import db

DEMO_PASSWORD = "restore24"
# "small" is the same city with fewer customers and orders: what the tests load
SIZES = ("full", "small")
CUSTOMERS = {"full": 2000, "small": 300}
LOGINS = [
    ("admin", DEMO_PASSWORD, "admin"),
    ("dispatch-1", DEMO_PASSWORD, "dispatcher (also dispatch-2 … dispatch-4)"),
    ("manager", DEMO_PASSWORD, "centre manager (supervisor of every station)"),
    ("sup-s01", DEMO_PASSWORD, "supervisor of S01 (sup-s01 … sup-s16)"),
    ("tech-s01-2", DEMO_PASSWORD, "technician at S01 on the day shift, with jobs (tech-sNN-1 … 3)"),
    ("stock-futian", DEMO_PASSWORD, "stock keeper (stock-luohu, stock-nanshan, stock-yantian)"),
]


def database_is_empty() -> bool:
    has_users = db.session.scalar(sa.select(sa.func.count()).select_from(auth.User))
    has_stations = db.session.scalar(sa.select(sa.func.count()).select_from(stations.Station))
    return not has_users and not has_stations


def _districts() -> list[demo_city.District]:
    return demo_city.load_districts()


def load_stations(seed: int, progress: Callable[..., Any], size: str = "full") -> None:
    districts = {d.code: d for d in _districts()}
    areas = demo_city.station_areas(list(districts.values()), seed=seed)
    with progress(areas, "stations") as bar:
        for area in bar:
            if stations.station_by_code(area.code):
                continue
            stations.create_station(code=area.code, name=area.name, name_zh=area.name_zh, address=area.address,
                                    district=districts[area.district].name_en, lat=area.lat, lon=area.lon,
                                    coverage=demo_city.coverage_geojson(area.coverage))


def load_staff(seed: int, progress: Callable[..., Any], size: str = "full") -> None:
    areas = demo_city.station_areas(_districts(), seed=seed)
    by_code = {s.code: s for s in stations.all_stations()}
    with progress(demo_city.people(areas, seed=seed), "staff") as bar:
        for person in bar:
            if auth.find_user(person.username):
                continue
            auth.create_user(person.username, person.role, DEMO_PASSWORD,
                             station=by_code.get(person.station_code) if person.station_code else None,
                             full_name=person.full_name, skills=person.skills)


def load_customers(seed: int, progress: Callable[..., Any], size: str = "full") -> None:
    districts = _districts()
    names = {d.code: d.name_en for d in districts}
    existing = set(db.session.scalars(sa.select(customers.Customer.account_no)))
    with progress(demo_city.customers(districts, n=CUSTOMERS[size], seed=seed), "customers") as bar:
        for c in bar:
            if c.account_no in existing:
                continue
            db.session.add(customers.Customer(
                account_no=c.account_no, name=c.name, phone=c.phone, address=c.address,
                district=names.get(c.district, c.district), lat=c.lat, lon=c.lon,
                segment=c.segment, services=list(c.services)))
    db.session.flush()
