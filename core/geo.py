"""Geometry helpers: coverage validation, geodesic distance, the station locator."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Sequence

import shapely
from geopy.distance import geodesic
from shapely.geometry import MultiPolygon, Point, Polygon, shape
from shapely.strtree import STRtree
from shapely.validation import explain_validity

from core.errors import Invalid
from core.parse import loads_json, to_float

EARTH_RADIUS_M = 6_371_008.8


def check_point(lat: Any, lon: Any) -> tuple[float, float]:
    """Parse and range-check a WGS 84 point; refuse text, NaN, huge and out-of-range values (core.parse)."""
    fields: dict[str, str] = {}
    out = []
    for name, value, limit in (("lat", lat, 90.0), ("lon", lon, 180.0)):
        number = to_float(value, lo=-limit, hi=limit)
        if number is None:
            fields[name] = f"must be a number from -{limit:g} to {limit:g}"
        out.append(number)
    if fields:
        raise Invalid("Invalid coordinates.", fields)
    return out[0], out[1]


def parse_coverage(data: Any) -> Polygon | MultiPolygon:
    """A coverage area from GeoJSON (dict or text): a valid, non-empty (Multi)Polygon in WGS 84 ranges."""
    if isinstance(data, str):
        try:
            data = loads_json(data)
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
    point: tuple[float, float] = field(repr=False, compare=False)
    station_point: tuple[float, float] = field(repr=False, compare=False)

    @cached_property
    def distance_m(self) -> float:
        """Geodesic metres from the point to the station (computed on first use: it costs more
        than finding the station)."""
        return distance_m(self.point, self.station_point)

    def reason(self) -> str:
        if self.inside:
            return f"inside {self.code}'s area"
        return f"nearest: {self.code}, {self.distance_m / 1000:.1f} km"


# Geodesic (WGS 84) over great-circle (mean radius) distance lies within [0.9944, 1.0045]: so a
# station whose great-circle distance exceeds the best one's by more than 1.0102× can never be
# geodesically nearer. 1.02 leaves room for rounding.
_SPHERE_MARGIN = 1.02


class StationLocator:
    """Which station serves a point: the one whose area contains it, else the nearest.

    Areas sit in an STRtree (prepared polygons). For "nearest", station points sit in a uniform
    grid of about one station per cell, walked in rings outwards by great-circle distance until no
    unvisited cell can hold a station within the geodesic/great-circle margin of the best so far;
    the few stations left within that margin are ranked by the exact geodesic distance (ties by
    code), so the answer is the geodesic nearest while usually costing no geodesic at all.
    """

    def __init__(self, sites: Sequence[StationSite]):
        self.sites = list(sites)
        self._lat = [s.lat for s in self.sites]
        self._lon = [s.lon for s in self.sites]
        self._coslat = [math.cos(math.radians(s.lat)) for s in self.sites]
        self._areas = STRtree([s.coverage for s in self.sites]) if self.sites else None
        for site in self.sites:
            shapely.prepare(site.coverage)
        self._points: dict[tuple[int, int], list[int]] = {}
        if not self.sites:
            self._cell = 1.0
            return
        width = max(self._lon) - min(self._lon)
        height = max(self._lat) - min(self._lat)
        # about one station per cell, for stations spread over an area or strung along a line
        n = len(self.sites)
        self._cell = min(10.0, max(1e-4, math.sqrt(width * height / n), max(width, height) / n))
        for i, site in enumerate(self.sites):
            self._points.setdefault(self._key(site.lat, site.lon), []).append(i)
        keys = [k for k in self._points]
        self._imin = min(k[0] for k in keys)
        self._imax = max(k[0] for k in keys)
        self._jmin = min(k[1] for k in keys)
        self._jmax = max(k[1] for k in keys)

    def __len__(self) -> int:
        return len(self.sites)

    def _key(self, lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lon / self._cell), math.floor(lat / self._cell)

    def containing(self, lat: float, lon: float) -> list[StationSite]:
        if self._areas is None:
            return []
        idx = self._areas.query(Point(lon, lat), predicate="intersects")
        return [self.sites[i] for i in sorted(idx)]

    def _great_circle(self, i: int, lat: float, lon: float, coslat: float) -> float:
        dp = math.radians(self._lat[i] - lat)
        dl = math.radians(self._lon[i] - lon)
        h = math.sin(dp / 2) ** 2 + coslat * self._coslat[i] * math.sin(dl / 2) ** 2
        return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))

    def _ring_candidates(self, lat: float, lon: float) -> list[tuple[float, int]]:
        """(great-circle m, index) of every station that could be the geodesic nearest."""
        ci, cj = self._key(lat, lon)
        coslat = math.cos(math.radians(lat))
        # rings nearer than the grid's edge hold nothing; start there
        r = max(0, self._imin - ci, ci - self._imax, self._jmin - cj, cj - self._jmax)
        r_max = max(abs(ci - self._imin), abs(ci - self._imax), abs(cj - self._jmin), abs(cj - self._jmax))
        seen: list[tuple[float, int]] = []
        best = math.inf
        while r <= r_max:
            if 8 * r > len(self._points):
                # a ring would have more cells than there are occupied ones: take every station left
                for (i, j), members in self._points.items():
                    if max(abs(i - ci), abs(j - cj)) >= r:
                        seen.extend((self._great_circle(k, lat, lon, coslat), k) for k in members)
                break
            if r == 0:
                cells: Iterable[tuple[int, int]] = ((ci, cj),)
            else:
                cells = [(ci + d, cj - r) for d in range(-r, r + 1)] + [(ci + d, cj + r) for d in range(-r, r + 1)] \
                    + [(ci - r, cj + d) for d in range(-r + 1, r)] + [(ci + r, cj + d) for d in range(-r + 1, r)]
            for cell in cells:
                for k in self._points.get(cell, ()):
                    d = self._great_circle(k, lat, lon, coslat)
                    seen.append((d, k))
                    best = min(best, d)
            # every unvisited station is at least r cells away in latitude or in longitude
            gap = math.radians(min(r * self._cell, 90.0))
            lower = EARTH_RADIUS_M * min(gap, math.asin(min(1.0, coslat * math.sin(gap))))
            if lower > best * _SPHERE_MARGIN:
                break
            r += 1
        best = min(d for d, _k in seen)
        return [(d, k) for d, k in seen if d <= best * _SPHERE_MARGIN]

    def nearest(self, lat: float, lon: float, among: Iterable[StationSite] | None = None) -> tuple[StationSite, float]:
        best = self._nearest_site(lat, lon, None if among is None else list(among))
        return best, distance_m((lat, lon), (best.lat, best.lon))

    def _nearest_site(self, lat: float, lon: float, among: list[StationSite] | None) -> StationSite:
        if among is None:
            close = self._ring_candidates(lat, lon)
            if len(close) == 1:
                return self.sites[close[0][1]]
            among = [self.sites[i] for _d, i in close]
        return min(among, key=lambda s: (distance_m((lat, lon), (s.lat, s.lon)), s.code))

    def place(self, lat: float, lon: float) -> Placement | None:
        """The serving station; None when there are no stations at all."""
        if not self.sites:
            return None
        inside = self.containing(lat, lon)
        site = inside[0] if len(inside) == 1 else self._nearest_site(lat, lon, inside or None)
        return Placement(site.id, site.code, len(inside) == 1, (lat, lon), (site.lat, site.lon))
