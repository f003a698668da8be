"""Geometry helpers: coverage validation, geodesic distance, the station locator."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import shapely
from geopy.distance import geodesic
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.strtree import STRtree
from shapely.validation import explain_validity

from core.errors import Invalid

EARTH_RADIUS_M = 6_371_008.8


def check_point(lat: Any, lon: Any) -> tuple[float, float]:
    """Parse and range-check a WGS 84 point; refuse text, NaN and out-of-range values."""
    fields: dict[str, str] = {}
    out = []
    for name, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        try:
            number = float(value)
            if isinstance(value, bool) or not math.isfinite(number) or abs(number) > limit:
                raise ValueError
            out.append(number)
        except (TypeError, ValueError):
            fields[name] = f"must be a number from -{limit:g} to {limit:g}"
    if fields:
        raise Invalid("Invalid coordinates.", fields)
    return out[0], out[1]


def parse_coverage(data: Any) -> Polygon | MultiPolygon:
    """A coverage area from GeoJSON (dict or text): a valid, non-empty (Multi)Polygon in WGS 84 ranges."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            raise Invalid("The coverage area is not valid GeoJSON.", {"coverage": "not_json"}) from None
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry")
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        feats = data.get("features") or []
        if len(feats) != 1:
            raise Invalid("Draw exactly one area.", {"coverage": "count"})
        data = feats[0].get("geometry")
    if not isinstance(data, dict) or data.get("type") not in ("Polygon", "MultiPolygon"):
        raise Invalid("The coverage area must be a GeoJSON Polygon or MultiPolygon.", {"coverage": "type"})
    try:
        geom = shape(data)
    except Exception:  # shapely raises several types for malformed rings
        raise Invalid("The coverage area's coordinates are malformed.", {"coverage": "malformed"}) from None
    if geom.is_empty:
        raise Invalid("The coverage area is empty.", {"coverage": "empty"})
    minx, miny, maxx, maxy = geom.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise Invalid("The coverage area is outside longitude −180…180 / latitude −90…90 "
                      "(are longitude and latitude swapped? GeoJSON is [lon, lat]).", {"coverage": "range"})
    if not geom.is_valid:
        raise Invalid(f"The coverage area is not a valid polygon: {explain_validity(geom)}.",
                      {"coverage": "invalid"})
    if geom.area == 0:
        raise Invalid("The coverage area is empty.", {"coverage": "empty"})
    return geom


def to_geojson(geom: Polygon | MultiPolygon) -> dict[str, Any]:
    return json.loads(shapely.to_geojson(geom))


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Geodesic distance in metres between two (lat, lon) points."""
    return geodesic(a, b).meters


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance; a cheap lower bound helper for ranking candidates."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True)
class StationSite:
    id: int
    code: str
    lat: float
    lon: float
    coverage: Polygon | MultiPolygon


@dataclass(frozen=True)
class Placement:
    station_id: int
    code: str
    inside: bool
    distance_m: float

    def reason(self) -> str:
        if self.inside:
            return f"inside {self.code}'s area"
        return f"nearest: {self.code}, {self.distance_m / 1000:.1f} km"


class StationLocator:
    """Which station serves a point: the one whose area contains it, else the nearest.

    Areas and station points each sit in an STRtree. For "nearest" the tree yields
    candidates in planar order; since degrees of longitude shrink with latitude, we
    take every station within a widened planar radius and rank those by geodesic
    distance, which stays exact while touching only a handful of stations.
    """

    def __init__(self, sites: Sequence[StationSite]):
        self.sites = list(sites)
        self._areas = STRtree([s.coverage for s in self.sites]) if self.sites else None
        self._points = STRtree([Point(s.lon, s.lat) for s in self.sites]) if self.sites else None
        for site in self.sites:
            shapely.prepare(site.coverage)

    def __len__(self) -> int:
        return len(self.sites)

    def containing(self, lat: float, lon: float) -> list[StationSite]:
        if self._areas is None:
            return []
        idx = self._areas.query(Point(lon, lat), predicate="intersects")
        return [self.sites[i] for i in sorted(idx)]

    def nearest(self, lat: float, lon: float, among: Iterable[StationSite] | None = None) -> tuple[StationSite, float]:
        if among is not None:
            cands = list(among)
        else:
            assert self._points is not None
            p = Point(lon, lat)
            first = int(self._points.nearest(p))
            planar = p.distance(Point(self.sites[first].lon, self.sites[first].lat))
            # widen by the worst lon/lat scale ratio so no geodesically nearer station is missed
            scale = 1.0 / max(math.cos(math.radians(min(89.0, abs(lat) + planar + 1))), 1e-6)
            idx = self._points.query(p.buffer(planar * scale * 1.01 + 1e-9))  # 1 %: ellipsoid vs sphere
            cands = [self.sites[i] for i in idx] or [self.sites[first]]
        best = min(cands, key=lambda s: (distance_m((lat, lon), (s.lat, s.lon)), s.code))
        return best, distance_m((lat, lon), (best.lat, best.lon))

    def place(self, lat: float, lon: float) -> Placement | None:
        """The serving station; None when there are no stations at all."""
        if not self.sites:
            return None
        inside = self.containing(lat, lon)
        if len(inside) == 1:
            s = inside[0]
            return Placement(s.id, s.code, True, distance_m((lat, lon), (s.lat, s.lon)))
        best, dist = self.nearest(lat, lon, among=inside or None)
        return Placement(best.id, best.code, False, dist)
