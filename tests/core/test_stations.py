"""Stations: validated coverage areas, the API, the locator kept in step across processes."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from core import stations
from core.errors import Conflict, Invalid
from core.extensions import db


def square(lon, lat, size=0.01):
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size],
                                                [lon, lat + size], [lon, lat]]]}


def make(**kw):
    data = dict(code="S01", name="Futian North", lat=22.505, lon=114.005, coverage=square(114.0, 22.5))
    data.update(kw)
    return stations.create_station(**data)


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(stations.Station))


def test_create_and_find(ctx):
    st = make(code="s01")
    assert st.code == "S01" and station_json_ok(stations.station_json(st))
    assert stations.station_by_code("s01").id == st.id


def station_json_ok(data):
    return data["coverage"]["type"] == "Polygon" and data["lat"] == 22.505


@pytest.mark.parametrize("coverage,needle", [
    ({"type": "Polygon", "coordinates": [[[22.5, 114.0], [22.51, 114.0], [22.51, 114.01], [22.5, 114.0]]]}, "swapped"),
    ({"type": "Polygon", "coordinates": [[[114.0, 22.5], [114.01, 22.51], [114.01, 22.5], [114.0, 22.51],
                                          [114.0, 22.5]]]}, "not a valid polygon"),
    ({"type": "Polygon", "coordinates": []}, "empty"),
    ({"type": "Point", "coordinates": [114.0, 22.5]}, "Polygon or MultiPolygon"),
    ("{not json", "not valid GeoJSON"),
    ({"type": "Polygon", "coordinates": [[["a", "b"]]]}, "malformed"),
])
def test_bad_coverage_is_refused_with_a_clear_message(ctx, coverage, needle):
    with pytest.raises(Invalid) as err:
        make(coverage=coverage)
    assert needle in err.value.fields["coverage"]
    assert count() == 0


def test_bad_point_and_duplicate_code(ctx):
    with pytest.raises(Invalid) as err:
        make(lat=91, lon=200)
    assert set(err.value.fields) == {"lat", "lon"}
    make()
    with pytest.raises(Conflict):
        make(name="Again")
    assert count() == 1


def test_feature_collection_from_the_draw_tool_is_accepted(ctx):
    fc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},
                                                     "geometry": square(114.0, 22.5)}]}
    assert make(coverage=json.dumps(fc)).coverage["type"] == "Polygon"


def test_locator_inside_and_nearest(ctx):
    a = make(code="A1", coverage=square(114.0, 22.5), lat=22.505, lon=114.005)
    b = make(code="B1", coverage=square(114.02, 22.5), lat=22.505, lon=114.025)
    inside = stations.place_point(22.505, 114.001)
    assert inside.station_id == a.id and inside.inside and "inside A1" in inside.reason()
    outside = stations.place_point(22.505, 114.0175)  # in the gap, nearer B1's point
    assert outside.station_id == b.id and not outside.inside and outside.reason().startswith("nearest: B1")


def test_locator_is_rebuilt_when_another_process_changes_stations(app, make_station):
    make_station("A1", lon=114.0, lat=22.5)
    with app.app_context():
        assert stations.place_point(22.505, 114.005).code == "A1"
    # another process edits the stations: simulate with raw SQL plus the version stamp it writes
    with app.app_context():
        st = stations.station_by_code("A1")
        db.session.execute(sa.update(stations.Station).where(stations.Station.id == st.id).values(code="Z9"))
        stations.bump_version("stations")
        db.session.commit()
    with app.app_context():
        assert stations.place_point(22.505, 114.005).code == "Z9"


def test_stations_api(client, as_role, make_station):
    make_station("S02")
    as_role("technician")
    data = client.get("/api/v1/stations").get_json()
    assert [s["code"] for s in data["items"]] == ["S02", "ZZ02"] or "S02" in [s["code"] for s in data["items"]]
    assert all({"code", "name", "lat", "lon", "coverage"} <= set(s) for s in data["items"])


def test_admin_creates_and_edits_a_station(client, as_role, app):
    as_role("admin")
    form = {"code": "S09", "name": "Nanshan East", "address": "1 Keyuan Rd", "district": "Nanshan",
            "lat": "22.505", "lon": "114.005", "coverage": json.dumps(square(114.0, 22.5))}
    resp = client.post("/admin/stations/new", data=form)
    assert resp.status_code == 302
    again = client.post("/admin/stations/new", data=form)
    assert again.status_code == 422 and "exists already" in again.get_data(as_text=True)
    bad = dict(form, code="S10", coverage=json.dumps(
        {"type": "Polygon", "coordinates": [[[22.5, 114.0], [22.6, 114.0], [22.6, 114.1], [22.5, 114.0]]]}))
    resp = client.post("/admin/stations/new", data=bad)
    assert resp.status_code == 422 and "swapped" in resp.get_data(as_text=True)
    with app.app_context():
        st = stations.station_by_code("S09")
        assert stations.station_by_code("S10") is None
    resp = client.post(f"/admin/stations/{st.id}", data=dict(form, name="Nanshan East 2"))
    assert resp.status_code == 302
    with app.app_context():
        assert stations.station_by_code("S09").name == "Nanshan East 2"
    assert "Nanshan East 2" in client.get("/admin/stations").get_data(as_text=True)


def test_area_check_reports_overlaps_and_gaps(ctx):
    # four squares around a hole, and a proposed area overlapping one of them
    for code, (lon, lat) in {"A1": (114.0, 22.5), "A2": (114.01, 22.5), "A3": (114.0, 22.51)}.items():
        make(code=code, coverage=square(lon, lat), lat=lat + 0.005, lon=lon + 0.005)
    ring = {"type": "Polygon", "coordinates": [[[114.01, 22.51], [114.02, 22.51], [114.02, 22.52],
                                                [114.01, 22.52], [114.01, 22.51]]]}
    clean = stations.check_area(ring)
    assert clean == {"overlaps": [], "gaps": []}
    overlapping = stations.check_area(square(114.005, 22.505))
    assert sorted(o["code"] for o in overlapping["overlaps"]) == ["A1", "A2", "A3"]
    a1 = next(o for o in overlapping["overlaps"] if o["code"] == "A1")
    assert 250_000 < a1["area_m2"] < 300_000  # a quarter of a ~1.1 km square
    # a frame with a hole in the middle leaves a gap
    frame = {"type": "Polygon", "coordinates": [[[114.03, 22.5], [114.06, 22.5], [114.06, 22.53], [114.03, 22.53],
                                                 [114.03, 22.5]], [[114.04, 22.51], [114.05, 22.51], [114.05, 22.52],
                                                                   [114.04, 22.52], [114.04, 22.51]]]}
    assert len(stations.check_area(frame)["gaps"]) == 1


def test_area_check_endpoint_refuses_bad_geojson(client, as_role):
    as_role("admin")
    resp = client.post("/admin/stations/check-area", json={"coverage": "{bad"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 422 and "GeoJSON" in resp.get_json()["error"]["message"]


def test_a_station_has_a_chinese_name_shown_to_readers_of_chinese(app):
    from flask_babel import force_locale

    with app.test_request_context():
        st = make(name_zh="  福田北维修站 ")
        plain = make(code="S02", name="Luohu East", lat=22.505, lon=114.015, coverage=square(114.01, 22.5))
        assert st.name_zh == "福田北维修站" and stations.station_json(st)["name_zh"] == "福田北维修站"
        assert st.display_name == "Futian North" and st.label("zh_CN") == "福田北维修站"
        with force_locale("zh_CN"):
            assert st.display_name == "福田北维修站" and plain.display_name == "Luohu East"  # no Chinese name given
        with pytest.raises(Invalid) as refused:
            stations.update_station(st, name_zh="站" * 121)
        assert set(refused.value.fields) == {"name_zh"}
        db.session.rollback()
