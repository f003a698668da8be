"""Maintenance stations: their areas, and the locator every process keeps in step."""
from __future__ import annotations

import re
import secrets
import threading
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from core import audit
from core.db import UTCDateTime, now
from core.errors import Conflict, Invalid, NotFound, recovered
from core.extensions import db
from core.geo import Placement, StationLocator, StationSite, check_point, parse_coverage, to_geojson

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,19}$")


class Station(db.Model):
    __tablename__ = "stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    name_zh: Mapped[str] = mapped_column(sa.String(120), default="", server_default="")  # shown to readers of Chinese
    address: Mapped[str] = mapped_column(sa.String(255), default="")
    lat: Mapped[float]
    lon: Mapped[float]
    coverage: Mapped[dict[str, Any]] = mapped_column(sa.JSON)  # GeoJSON geometry
    district: Mapped[str] = mapped_column(sa.String(80), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    __table_args__ = (
        sa.CheckConstraint("lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180", name="point_in_range"),
    )

    def label(self, locale: str | None) -> str:
        """The name in the reader's language (the English one when no Chinese name is given)."""
        return self.name_zh if (locale or "").startswith("zh") and self.name_zh else self.name

    @property
    def display_name(self) -> str:
        from core.i18n import current_language  # core.i18n reads the app's config: only when shown
        return self.label(current_language())

    @property
    def supervisors(self) -> list[Any]:
        from core.auth import User
        return list(db.session.scalars(sa.select(User).where(
            User.station_id == self.id, User.role == "supervisor", User.is_enabled.is_(True))))

    def __repr__(self) -> str:
        return f"<Station {self.code}>"


class ReferenceVersion(db.Model):
    """A stamp per kind of cached reference data; any process compares it to its cache."""

    __tablename__ = "reference_versions"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(32))


def bump_version(name: str) -> None:
    row = db.session.get(ReferenceVersion, name)
    if row is None:
        db.session.add(ReferenceVersion(name=name, version=secrets.token_hex(8)))
    else:
        row.version = secrets.token_hex(8)


def current_version(name: str) -> str:
    return db.session.scalar(sa.select(ReferenceVersion.version).where(ReferenceVersion.name == name)) or "none"


def all_stations() -> list[Station]:
    return list(db.session.scalars(sa.select(Station).order_by(Station.code)))


def get_station(station_id: int) -> Station:
    station = db.session.get(Station, station_id)
    if station is None:
        raise NotFound(str(_l("No such station.")))
    return station


def station_by_code(code: str) -> Station | None:
    return db.session.scalar(sa.select(Station).where(Station.code == (code or "").strip().upper()))


def _validated(fields: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    if "code" in fields:
        code = (fields["code"] or "").strip().upper()
        if not CODE_RE.match(code):
            errors["code"] = str(_l("2–20 capital letters, digits or dashes"))
        out["code"] = code
    if "name" in fields:
        name = (fields["name"] or "").strip()
        if not name or len(name) > 120:
            errors["name"] = str(_l("required, at most 120 characters"))
        out["name"] = name
    if "name_zh" in fields:
        name_zh = (fields["name_zh"] or "").strip()
        if len(name_zh) > 120:
            errors["name_zh"] = str(_l("at most 120 characters"))
        out["name_zh"] = name_zh
    for key, limit in (("address", 255), ("district", 80)):
        if key in fields:
            out[key] = (fields[key] or "").strip()[:limit]
    if "lat" in fields or "lon" in fields:
        try:
            out["lat"], out["lon"] = check_point(fields.get("lat"), fields.get("lon"))
        except Invalid as err:
            recovered(err)  # folded into the one refusal below
            errors.update(err.fields)
    if "coverage" in fields:
        try:
            out["coverage"] = to_geojson(parse_coverage(fields["coverage"]))
        except Invalid as err:
            recovered(err)
            errors["coverage"] = err.message
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    return out


def create_station(**fields: Any) -> Station:
    """Add a station. Code, name, point and a valid coverage area are required."""
    for key in ("code", "name", "lat", "lon", "coverage"):
        fields.setdefault(key, None)
    data = _validated(fields)
    if station_by_code(data["code"]):
        raise Conflict(str(_l("A station with code %(code)s exists already.", code=data["code"])),
                       {"code": "taken"})
    station = Station(**data)
    db.session.add(station)
    db.session.flush()
    bump_version("stations")
    audit.record("station.create", "station", station.id, code=station.code)
    return station


def update_station(station: Station, **fields: Any) -> Station:
    data = _validated(fields)
    if "code" in data and data["code"] != station.code and station_by_code(data["code"]):
        raise Conflict(str(_l("A station with code %(code)s exists already.", code=data["code"])),
                       {"code": "taken"})
    for key, value in data.items():
        setattr(station, key, value)
    station.updated_at = now()
    db.session.flush()
    bump_version("stations")
    audit.record("station.update", "station", station.id, fields=sorted(data))
    return station


_locator_lock = threading.Lock()
_locator_cache: dict[str, Any] = {"version": None, "locator": None}


def locator() -> StationLocator:
    """This process's station locator, rebuilt when any process has changed a station."""
    version = current_version("stations")
    with _locator_lock:
        if _locator_cache["version"] != version or _locator_cache["locator"] is None:
            rows = db.session.execute(sa.select(Station.id, Station.code, Station.lat, Station.lon,
                                                Station.coverage).order_by(Station.code)).all()
            sites = [StationSite(r.id, r.code, r.lat, r.lon, parse_coverage(r.coverage)) for r in rows]
            _locator_cache.update(version=version, locator=StationLocator(sites))
        return _locator_cache["locator"]


def place_point(lat: float, lon: float) -> Placement | None:
    """The station that serves a point, with the reason (inside an area, or nearest)."""
    return locator().place(lat, lon)


def station_json(station: Station) -> dict[str, Any]:
    return {"id": station.id, "code": station.code, "name": station.name, "name_zh": station.name_zh,
            "address": station.address, "district": station.district, "lat": station.lat, "lon": station.lon, "coverage": station.coverage}


def check_area(coverage: Any, exclude_station_id: int | None = None) -> dict[str, Any]:
    """How a proposed area sits among the others: overlaps with each neighbour and gaps.

    A gap is a pocket enclosed by the stations' areas that none of them covers; an
    overlap is where the proposed area and a neighbour's both claim a point. Shown to
    the admin before saving; neither blocks the save (the locator takes the nearest
    station inside an overlap), but both are usually drawing mistakes.
    """
    import shapely
    from shapely.geometry import Polygon
    from shapely.ops import unary_union

    area = parse_coverage(coverage)
    others = [(s.code, parse_coverage(s.coverage)) for s in all_stations() if s.id != exclude_station_id]
    overlaps = []
    for code, geom in others:
        if not geom.intersects(area):
            continue
        shared = geom.intersection(area)
        if shared.area > 1e-12:
            overlaps.append({"code": code, "area_m2": round(_area_m2(shared)),
                             "geometry": to_geojson(shapely.make_valid(shared))})
    union = unary_union([area] + [g for _, g in others])
    polygons = list(getattr(union, "geoms", [union]))
    holes = [Polygon(ring) for p in polygons if isinstance(p, Polygon) for ring in p.interiors]
    gaps = [{"area_m2": round(_area_m2(h)), "geometry": to_geojson(h)} for h in holes if _area_m2(h) > 1]
    return {"overlaps": overlaps, "gaps": gaps}


def _area_m2(geom: Any) -> float:
    """Area in square metres, by a local equirectangular projection (fine at city scale)."""
    import math

    import shapely

    lat0 = math.radians(geom.centroid.y)
    scale = (111_320.0 * math.cos(lat0), 110_540.0)
    return shapely.transform(geom, lambda coords: coords * scale).area
