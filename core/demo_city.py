"""The demo city: districts, station coverage areas, customers and staff of a Shenzhen operator.

Pure and deterministic on purpose: `flask demo`, the tests and the benchmarks must all build the
same city from the same seed, without a database or the internet. The district outlines are the
real ones (see `core/data/`), so the live map looks like a real city and every generated point
is on land.
"""
from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field
from itertools import permutations
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import shapely
from shapely.geometry import GeometryCollection, MultiPoint, MultiPolygon, Point, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import polylabel

DISTRICTS_PATH = Path(__file__).with_name("data") / "shenzhen-districts.geojson"

#: The order stations are numbered in (S01.. in Futian); unknown codes follow, sorted.
DISTRICT_ORDER: tuple[str, ...] = ("440304", "440303", "440305", "440308")

#: Short ASCII names for usernames such as "stock-futian".
DISTRICT_SLUGS: dict[str, str] = {
    "440304": "futian",
    "440303": "luohu",
    "440305": "nanshan",
    "440308": "yantian",
}

#: Real road names per district; an address is "<n> <road> Road, <District>".
ROADS: dict[str, tuple[str, ...]] = {
    "440304": (
        "Shennan Middle", "Binhe", "Huaqiang North", "Jintian", "Yitian", "Hongli West",
        "Fuhua", "Fuzhong", "Caitian", "Xinzhou", "Meilin", "Lianhua", "Xiangmihu",
        "Fuqiang", "Shazui", "Huanggang", "Zhenhua", "Shangbu", "Zhuzilin", "Nongyuan",
    ),
    "440303": (
        "Shennan East", "Dongmen", "Renmin South", "Sungang", "Jianshe", "Jiefang",
        "Heping", "Chunfeng", "Bao'an South", "Wenjin", "Huangbei", "Taibai", "Cuizhu",
        "Aiguo", "Luosha", "Dongxiao", "Buxin", "Honggang", "Qingshuihe", "Yanhe",
    ),
    "440305": (
        "Nanhai", "Keyuan", "Houhai", "Nanxin", "Shahe West", "Baishi", "Taoyuan",
        "Xuefu", "Chuangye", "Dengliang", "Wanghai", "Nanguang", "Nanshan", "Gongye",
        "Qianhai", "Liuxian", "Xili", "Shekou", "Dongbin", "Zhongshan Park",
    ),
    "440308": (
        "Yantian", "Shatoujiao", "Shenyan", "Haishan", "Beishan", "Yanmei", "Shayan",
        "Haijing", "Mingzhu", "Meisha", "Dameisha", "Xiaomeisha",
    ),
}
GENERIC_ROADS: tuple[str, ...] = ("Zhongshan", "Renmin", "Jiefang", "Xinhua", "Heping", "Jianshe")

SEGMENTS: tuple[str, ...] = ("residential", "urban_village", "business", "vip", "hotel")
SEGMENT_WEIGHTS: tuple[float, ...] = (0.78, 0.10, 0.05, 0.04, 0.03)

SERVICES: tuple[str, ...] = ("cable_tv", "digital_tv", "broadband")
# Subscription bundles and their shares: most households moved to digital TV, three in five
# have broadband, a quarter still keep an analogue cable line (0.82 / 0.60 / 0.25).
SERVICE_BUNDLES: tuple[tuple[tuple[str, ...], float], ...] = (
    (("digital_tv",), 0.25),
    (("digital_tv", "broadband"), 0.43),
    (("broadband",), 0.07),
    (("cable_tv",), 0.06),
    (("cable_tv", "digital_tv"), 0.09),
    (("cable_tv", "broadband"), 0.05),
    (("cable_tv", "digital_tv", "broadband"), 0.05),
)

SKILLS: tuple[str, ...] = ("cable_tv", "digital_tv", "broadband", "fiber", "installation")
SHIFTS: tuple[str, ...] = ("day", "evening", "night")
TECHS_PER_STATION = 3

# Surnames with their approximate national frequency (per cent), so names look like a real list.
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 7.1), ("李", 7.0), ("张", 6.7), ("刘", 5.4), ("陈", 5.0), ("杨", 3.1),
    ("黄", 2.6), ("赵", 2.0), ("吴", 1.8), ("周", 1.7), ("徐", 1.3), ("孙", 1.3),
    ("马", 1.1), ("朱", 1.1), ("胡", 1.0), ("郭", 1.0), ("何", 0.9), ("高", 0.9),
    ("林", 1.2), ("罗", 0.8),
)
GIVEN_CHARS: str = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰文辉建国志海鹏宇浩俊婷雪琳晨"
    "欣怡子涵梓轩嘉睿思佳雨博晓颖丹斌凯飞峰慧立新春红云波锋"
)

# Mainland mobile prefixes of the three operators (13x, 15x, 18x, 19x).
MOBILE_PREFIXES: tuple[str, ...] = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139",
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "180", "181", "182", "183", "184", "185", "186", "187", "188", "189",
    "191", "193", "195", "196", "197", "198", "199",
)

ACCOUNT_BASE = 8_802_000_000

# Degrees of longitude are shorter than degrees of latitude at 22.5° N; scaling x by this makes
# distances (k-means, Voronoi) and areas roughly metric, so cells of one district are comparable.
_KX = math.cos(math.radians(22.55))
_MIN_PART_AREA = 1e-10  # deg², about 1 m²: slivers below this are numerical noise
# District outlines are kept on this grid (6 decimals, about 0.1 m), the precision GeoJSON is
# stored in, so storing a district or the border part of a coverage loses nothing.
GRID = 1e-6

# (English, Chinese, bearing in degrees counter-clockwise from east), listed clockwise from north.
_COMPASS8: tuple[tuple[str, str, float | None], ...] = (
    ("North", "北部", 90.0), ("Northeast", "东北部", 45.0), ("East", "东部", 0.0),
    ("Southeast", "东南部", -45.0), ("South", "南部", -90.0), ("Southwest", "西南部", -135.0),
    ("West", "西部", 180.0), ("Northwest", "西北部", 135.0),
)
_COMPASS4 = tuple(c for c in _COMPASS8 if c[0] in ("North", "East", "South", "West"))


@dataclass(frozen=True)
class District:
    """One district outline, valid and not overlapping any other district."""

    code: str
    name_en: str
    name_zh: str
    geometry: MultiPolygon


@dataclass(frozen=True)
class StationArea:
    """A maintenance station: its point and the area whose orders it takes."""

    code: str
    name: str
    name_zh: str
    district: str
    lat: float
    lon: float
    coverage: Polygon | MultiPolygon
    address: str


@dataclass(frozen=True)
class CustomerSeed:
    """A subscriber of the demo operator."""

    account_no: str
    name: str
    phone: str
    address: str
    district: str
    lat: float
    lon: float
    segment: str
    services: list[str]


@dataclass(frozen=True)
class PersonSeed:
    """A demo login; technicians carry skills and a shift, other roles do not."""

    username: str
    full_name: str
    role: str
    station_code: str | None
    skills: list[str] = field(default_factory=list)
    shift: str | None = None


# --------------------------------------------------------------------------- helpers


def _rng(seed: int, label: str) -> np.random.Generator:
    """A generator per purpose, so changing one generator never shifts another's stream.

    crc32 rather than hash(): str hashes change from process to process.
    """
    return np.random.default_rng([seed % (1 << 64), zlib.crc32(label.encode())])


def _polygonal(geom: BaseGeometry) -> Polygon | MultiPolygon:
    """Only the areal parts of a geometry: intersections may also yield lines and points."""
    polys: list[Polygon] = []
    for part in shapely.get_parts(geom):
        if isinstance(part, Polygon):
            if part.area > _MIN_PART_AREA:
                polys.append(part)
        elif isinstance(part, (MultiPolygon, GeometryCollection)):
            sub = _polygonal(part)
            polys.extend(sub.geoms if isinstance(sub, MultiPolygon) else [sub])
    if len(polys) == 1:
        result: Polygon | MultiPolygon = polys[0]
    else:
        result = MultiPolygon(polys)
    if not result.is_valid:  # parts that touch along an edge: let GEOS merge them
        result = _polygonal(shapely.make_valid(result)) if polys else result
    return result


def _as_multi(geom: Polygon | MultiPolygon) -> MultiPolygon:
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


def _sample_in(
    geom: BaseGeometry, n: int, rng: np.random.Generator, decimals: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """n points uniform in geom by rejection from its bounding box (vectorised).

    With `decimals`, points are rounded before the test so the stored value is the one inside.
    """
    shapely.prepare(geom)
    minx, miny, maxx, maxy = geom.bounds
    fill = max(geom.area / ((maxx - minx) * (maxy - miny)), 0.01)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    have = 0
    while have < n:
        batch = max(64, int((n - have) / fill * 1.3))
        x = rng.uniform(minx, maxx, batch)
        y = rng.uniform(miny, maxy, batch)
        if decimals is not None:
            x, y = np.round(x, decimals), np.round(y, decimals)
        inside = shapely.contains_xy(geom, x, y)
        xs.append(x[inside])
        ys.append(y[inside])
        have += int(inside.sum())
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iters: int = 60) -> np.ndarray:
    """Centres of k clusters of equal-weight points: cells around them get similar areas.

    Plain Lloyd iterations from k-means++ starts; of several runs the one whose clusters are most
    even in size wins (lowest spread of member counts, then lowest inertia), because a station
    should not get a sliver while its neighbour gets half the district.
    """
    best: tuple[float, float, np.ndarray] | None = None
    for _ in range(8):
        c = _kmeans_pp(points, k, rng)
        for _ in range(iters):
            d = ((points[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
            label = d.argmin(axis=1)
            new = c.copy()
            for j in range(k):
                members = points[label == j]
                if len(members):
                    new[j] = members.mean(axis=0)
                else:  # an empty cluster restarts at the point worst served
                    new[j] = points[int(d.min(axis=1).argmax())]
            if np.allclose(new, c, rtol=0, atol=1e-12):
                break
            c = new
        d = ((points[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        sizes = np.bincount(d.argmin(axis=1), minlength=k)
        score = (float(sizes.max() - sizes.min()), float(d.min(axis=1).sum()))
        if best is None or score < best[:2]:
            best = (*score, c)
    assert best is not None
    return best[2]


def _kmeans_pp(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ starts: each next centre drawn with probability growing with squared distance."""
    centres = [points[int(rng.integers(len(points)))]]
    dist = np.sum((points - centres[0]) ** 2, axis=1)
    for _ in range(1, k):
        total = dist.sum()
        i = int(rng.choice(len(points), p=dist / total)) if total > 0 else int(rng.integers(len(points)))
        centres.append(points[i])
        dist = np.minimum(dist, np.sum((points - centres[-1]) ** 2, axis=1))
    return np.array(centres)


def _compass_names(offsets: np.ndarray) -> list[tuple[str, str] | None]:
    """(English, Chinese) position word per station, each used once; None when there are too many.

    Each word has an anchor (North at (0, 1), Central at the origin...) in units of the district's
    spread; the assignment with the least total squared distance to the anchors wins, so a
    station near the middle is "Central" rather than forced into a direction it barely has.
    """
    k = len(offsets)
    if k > len(_COMPASS8):
        return [None] * k
    words = [("Central", "中心", None), *(_COMPASS4 if k <= 4 else _COMPASS8)]
    anchors = np.array(
        [[0.0, 0.0] if deg is None else [math.cos(math.radians(deg)), math.sin(math.radians(deg))]
         for _, _, deg in words]
    )
    cost = ((offsets[:, None, :] - anchors[None, :, :]) ** 2).sum(axis=2)
    best = min(permutations(range(len(words)), k), key=lambda p: sum(cost[i, p[i]] for i in range(k)))
    return [(words[j][0], words[j][1]) for j in best]


def _station_point(coverage: Polygon | MultiPolygon, lon: float, lat: float) -> tuple[float, float]:
    """A point inside the coverage, rounded: the cluster centre if inside, else a safe interior one."""
    largest = max(_as_multi(coverage).geoms, key=lambda p: p.area)
    candidates = (
        lambda: (lon, lat),
        lambda: polylabel(largest, tolerance=1e-6).coords[0],
        lambda: coverage.representative_point().coords[0],
    )
    for candidate in candidates:
        x, y = (round(float(v), 6) for v in candidate())
        if coverage.contains(Point(x, y)):
            return x, y
    raise ValueError("no interior point found for a station coverage")


def _chinese_names(rng: np.random.Generator, n: int) -> list[str]:
    """Surname by real frequency, then one (40 %) or two given-name characters."""
    surnames = [s for s, _ in SURNAMES]
    weights = np.array([w for _, w in SURNAMES])
    s_idx = rng.choice(len(surnames), size=n, p=weights / weights.sum())
    two = rng.random(n) < 0.6
    g1 = rng.integers(len(GIVEN_CHARS), size=n)
    g2 = rng.integers(len(GIVEN_CHARS), size=n)
    return [
        surnames[s_idx[i]] + GIVEN_CHARS[g1[i]] + (GIVEN_CHARS[g2[i]] if two[i] else "")
        for i in range(n)
    ]


def _unique_names(rng: np.random.Generator, n: int) -> list[str]:
    """Distinct names, so a dispatcher picking a technician from a list never meets two 王伟."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        for name in _chinese_names(rng, n - len(out)):
            if name not in seen:
                seen.add(name)
                out.append(name)
    return out


def _phones(rng: np.random.Generator, n: int) -> list[str]:
    """Unique 11-digit mainland mobile numbers."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        prefix = MOBILE_PREFIXES[int(rng.integers(len(MOBILE_PREFIXES)))]
        number = f"{prefix}{int(rng.integers(100_000_000)):08d}"
        if number not in seen:
            seen.add(number)
            out.append(number)
    return out


def _allocate(n: int, weights: Sequence[float], floor_share: float = 0.10) -> list[int]:
    """Split n in proportion to weights, but at least floor_share of n each (largest remainder)."""
    k = len(weights)
    floor = min(math.ceil(n * floor_share), n // k)
    fixed: set[int] = set()
    shares: dict[int, float] = {}
    while True:
        free = [i for i in range(k) if i not in fixed]
        rest = n - floor * len(fixed)
        total = sum(weights[i] for i in free)
        shares = {i: (rest * weights[i] / total if total > 0 else rest / len(free)) for i in free}
        low = [i for i in free if shares[i] < floor]
        if not low or len(low) == len(free):
            break
        fixed.update(low)
    exact = [float(floor) if i in fixed else shares[i] for i in range(k)]
    counts = [max(floor, math.floor(x)) for x in exact]
    order = sorted(range(k), key=lambda i: (-(exact[i] - math.floor(exact[i])), i))
    j = 0
    while sum(counts) < n:
        counts[order[j % k]] += 1
        j += 1
    while sum(counts) > n:  # only when rounding up to the floor overshot
        i = max(range(k), key=lambda i: (counts[i] - floor, -i))
        counts[i] -= 1
    return counts


def _address(rng: np.random.Generator, district: District, roads: Sequence[str] | None = None) -> str:
    """A street address in the district, in the English form the demo UI shows."""
    road_list = roads or ROADS.get(district.code, GENERIC_ROADS)
    road = road_list[int(rng.integers(len(road_list)))]
    # House numbers cluster low: most buildings are near the start of a road.
    number = 1 + int(rng.gamma(1.5, 60.0))
    return f"{number} {road} Road, {district.name_en}"


# --------------------------------------------------------------------------- public API


def load_districts(path: str | Path | None = None) -> list[District]:
    """The districts, valid and made disjoint, in station-numbering order.

    Overlaps are given to the earlier district, so every point belongs to at most one district
    and station coverages built from them tile the city.
    """
    with open(path or DISTRICTS_PATH, encoding="utf-8") as fh:
        data = json.load(fh)
    raw: list[tuple[dict[str, Any], Polygon | MultiPolygon]] = []
    for feature in data["features"]:
        geom = shape(feature["geometry"])
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        raw.append((feature["properties"], _polygonal(shapely.set_precision(geom.buffer(0), GRID))))
    rank = {code: i for i, code in enumerate(DISTRICT_ORDER)}
    raw.sort(key=lambda r: (rank.get(str(r[0]["code"]), len(rank)), str(r[0]["code"])))

    districts: list[District] = []
    taken: BaseGeometry | None = None
    for props, geom in raw:
        if taken is not None and geom.intersects(taken):
            geom = _polygonal(shapely.difference(geom, taken, grid_size=GRID))
        if geom.is_empty:
            continue
        taken = geom if taken is None else shapely.union(taken, geom, grid_size=GRID)
        districts.append(
            District(
                code=str(props["code"]),
                name_en=str(props["name_en"]),
                name_zh=str(props["name_zh"]),
                geometry=_as_multi(geom),
            )
        )
    return districts


def station_areas(
    districts: Sequence[District], per_district: int = 4, seed: int = 24
) -> list[StationArea]:
    """`per_district` stations per district, each covering one Voronoi cell of it.

    Cell centres are k-means centres of uniform interior samples, so the cells of a district have
    comparable areas; clipping the cells to the district makes the coverages tile the city with
    no gaps or overlaps, which the assignment rule (the coverage containing the point) relies on.
    """
    if per_district < 1:
        raise ValueError("per_district must be at least 1")
    drafts: list[tuple[District, tuple[float, float], Polygon | MultiPolygon, str, str, str]] = []
    for district in districts:
        rng = _rng(seed, f"stations:{district.code}")
        geom = district.geometry
        # Centres come from the main land parts only: a small island would otherwise take a whole
        # station to itself; it joins the cell of the nearest centre instead.
        main = MultiPolygon([p for p in geom.geoms if p.area >= 0.1 * geom.area])
        lon, lat = _sample_in(main, 2000, rng)
        pts = np.column_stack([lon * _KX, lat])
        centres = _kmeans(pts, min(per_district, len(pts)), rng)

        minx, miny, maxx, maxy = geom.bounds
        frame = shapely.box(minx * _KX - 1, miny - 1, maxx * _KX + 1, maxy + 1)
        cells = list(shapely.get_parts(shapely.voronoi_polygons(MultiPoint(centres), extend_to=frame)))
        areas: list[tuple[np.ndarray, Polygon | MultiPolygon]] = []
        for centre in centres:
            point = Point(centre)
            cell = next(c for c in cells if c.contains(point))  # voronoi output order is not input order
            cell_deg = shapely.transform(cell, lambda xy: xy / np.array([_KX, 1.0]))
            coverage = _polygonal(shapely.intersection(cell_deg, geom))
            if not coverage.is_empty:
                areas.append((centre, coverage))

        # Offsets in units of the district's spread, so that in a long east-west district a
        # station clearly south of the others is "South" even though it is near the middle.
        middle, spread = pts.mean(axis=0), pts.std(axis=0)
        names = _compass_names(np.array([(c - middle) / spread for c, _ in areas]))
        order = list(range(len(areas)))
        if names[0] is not None:  # number stations: the central one, then clockwise from north
            words = ["Central", *(c[0] for c in _COMPASS8)]
            order.sort(key=lambda i: words.index(names[i][0]))  # type: ignore[index]
        short_zh = district.name_zh.removesuffix("区")
        roads = list(ROADS.get(district.code, GENERIC_ROADS))
        road_pick = rng.permutation(len(roads))
        for rank, i in enumerate(order, start=1):
            centre, coverage = areas[i]
            word = names[i]
            name = f"{district.name_en} {word[0]} Station" if word else f"{district.name_en} Station {rank}"
            name_zh = f"{short_zh}{word[1]}维修站" if word else f"{short_zh}第{rank}维修站"
            road = roads[int(road_pick[(rank - 1) % len(roads)])]
            address = _address(rng, district, [road])
            drafts.append(
                (district, (float(centre[0] / _KX), float(centre[1])), coverage, name, name_zh, address)
            )

    coverages = _share_vertices([d[2] for d in drafts])
    stations: list[StationArea] = []
    for (district, (cx, cy), _, name, name_zh, address), coverage in zip(drafts, coverages):
        x, y = _station_point(coverage, cx, cy)
        stations.append(
            StationArea(
                code=f"S{len(stations) + 1:02d}",
                name=name,
                name_zh=name_zh,
                district=district.code,
                lat=y,
                lon=x,
                coverage=coverage,
                address=address,
            )
        )
    return stations


def _share_vertices(
    coverages: Sequence[Polygon | MultiPolygon], tolerance: float = 1e-9
) -> list[Polygon | MultiPolygon]:
    """Give each coverage the vertices its neighbours have on their common border.

    Where a Voronoi edge meets a district border, only the coverages on that side get a vertex;
    the coverage across the border runs straight past it (a T-junction). Rounding for storage
    would then move the two borders apart and open slivers; with the vertex on both sides they
    round identically. Inserting a point that already lies on the edge changes no area.
    """
    coords = [shapely.get_coordinates(c) for c in coverages]
    result: list[Polygon | MultiPolygon] = []
    for i, coverage in enumerate(coverages):
        others = [coords[j] for j in range(len(coverages)) if j != i]
        if not others:
            result.append(coverage)
            continue
        candidates = np.unique(np.concatenate(others), axis=0)
        near = shapely.distance(coverage.boundary, shapely.points(candidates)) < tolerance
        if not near.any():
            result.append(coverage)
            continue
        snapped = _polygonal(shapely.snap(coverage, MultiPoint(candidates[near]), tolerance))
        keep = snapped.is_valid and abs(snapped.area - coverage.area) < 1e-12
        result.append(snapped if keep else coverage)
    return result


def _round_geom(geom: BaseGeometry, decimals: int) -> BaseGeometry:
    return shapely.transform(geom, lambda xy: np.round(xy, decimals))


def coverage_geojson(geom: BaseGeometry, decimals: int = 6) -> dict[str, Any]:
    """A GeoJSON geometry with coordinates rounded (about 0.1 m), still valid after rounding.

    Rounding can pinch a narrow part into a self-touching ring; then the geometry is snapped to
    the grid by GEOS (which keeps it valid) and repaired before serialising.
    """
    rounded = _round_geom(geom, decimals)
    attempts = 0
    while not rounded.is_valid or rounded.is_empty:
        attempts += 1
        if attempts > 3:
            raise ValueError("geometry cannot be rounded into a valid one")
        base = shapely.set_precision(geom, 10.0**-decimals) if attempts == 1 else shapely.make_valid(rounded)
        rounded = _round_geom(_polygonal(base), decimals)
    return json.loads(shapely.to_geojson(rounded))


def customers(districts: Sequence[District], n: int = 2000, seed: int = 24) -> list[CustomerSeed]:
    """n subscribers on land, spread by district area but at least 10 % in each district.

    Account numbers rise in list order and, like phones, are unique; segments and service bundles
    follow the operator's mix (see SEGMENT_WEIGHTS, SERVICE_BUNDLES).
    """
    if n <= 0 or not districts:
        return []
    rng = _rng(seed, "customers")
    counts = _allocate(n, [d.geometry.area for d in districts])
    where: list[tuple[int, float, float]] = []
    for di, (district, count) in enumerate(zip(districts, counts)):
        lon, lat = _sample_in(district.geometry, count, rng, decimals=6)
        where.extend((di, float(x), float(y)) for x, y in zip(lon, lat))
    where = [where[i] for i in rng.permutation(len(where))]  # accounts are not grouped by district

    offsets = np.sort(rng.choice(max(1_000_000, 10 * n), size=n, replace=False))
    names = _chinese_names(rng, n)
    phones = _phones(rng, n)
    segments = rng.choice(len(SEGMENTS), size=n, p=np.array(SEGMENT_WEIGHTS) / sum(SEGMENT_WEIGHTS))
    bundle_p = np.array([p for _, p in SERVICE_BUNDLES])
    bundles = rng.choice(len(SERVICE_BUNDLES), size=n, p=bundle_p / bundle_p.sum())

    result: list[CustomerSeed] = []
    for i, (di, x, y) in enumerate(where):
        district = districts[di]
        result.append(
            CustomerSeed(
                account_no=str(ACCOUNT_BASE + int(offsets[i])),
                name=names[i],
                phone=phones[i],
                address=_address(rng, district),
                district=district.code,
                lat=y,
                lon=x,
                segment=SEGMENTS[int(segments[i])],
                services=list(SERVICE_BUNDLES[int(bundles[i])][0]),
            )
        )
    return result


def people(stations: Sequence[StationArea], seed: int = 24) -> list[PersonSeed]:
    """The demo logins: admin, centre manager, dispatchers, stock keepers, and per station a
    supervisor and three technicians who between them hold every skill, two of them on days.
    """
    rng = _rng(seed, "people")
    by_district: dict[str, str] = {}
    for station in stations:
        by_district.setdefault(station.district, station.code)
    headcount = 1 + 1 + 4 + len(by_district) + len(stations) * (1 + TECHS_PER_STATION)
    names = iter(_unique_names(rng, headcount))

    staff: list[PersonSeed] = [
        PersonSeed("admin", next(names), "admin", None),
        PersonSeed("manager", next(names), "supervisor", None),
    ]
    # The call centre runs round the clock, like the 24-hour promise.
    for i, shift in enumerate(("day", "day", "evening", "night"), start=1):
        staff.append(PersonSeed(f"dispatch-{i}", next(names), "dispatcher", None, [], shift))
    for code, first_station in by_district.items():
        slug = DISTRICT_SLUGS.get(code, code)
        staff.append(PersonSeed(f"stock-{slug}", next(names), "stockkeeper", first_station))

    for index, station in enumerate(stations):
        low = station.code.lower()
        staff.append(PersonSeed(f"sup-{low}", next(names), "supervisor", station.code))
        skills: list[set[str]] = [set() for _ in range(TECHS_PER_STATION)]
        for j, s in enumerate(rng.permutation(len(SKILLS))):  # every skill held by someone
            skills[j % TECHS_PER_STATION].add(SKILLS[int(s)])
        for held in skills:
            target = int(rng.integers(2, 5))
            spare = [s for s in SKILLS if s not in held]
            extra = rng.permutation(len(spare))[: max(0, target - len(held))]
            held.update(spare[int(e)] for e in extra)
        # Two on days where the work is; the third alternates evening and night across stations.
        shifts = ["day", "day", "evening" if index % 2 == 0 else "night"]
        shifts = [shifts[int(j)] for j in rng.permutation(TECHS_PER_STATION)]
        for t in range(TECHS_PER_STATION):
            staff.append(
                PersonSeed(
                    f"tech-{low}-{t + 1}",
                    next(names),
                    "technician",
                    station.code,
                    [s for s in SKILLS if s in skills[t]],
                    shifts[t],
                )
            )
    return staff
