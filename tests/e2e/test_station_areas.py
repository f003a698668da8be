"""Admins draw a station's area on the map; overlaps with neighbours show before saving."""
from __future__ import annotations

import json

import pytest

from core import stations
from e2e.conftest import log_in

pytestmark = pytest.mark.e2e


def test_draw_an_area_see_the_overlap_and_save(new_page, base_url, make_user, make_station, app):
    make_station("N01", lon=114.0, lat=22.5, size=0.02)
    admin = make_user("admin")
    page, watch = new_page()
    log_in(page, base_url, admin.username)
    page.goto(f"{base_url}/admin/stations/new")
    page.fill("input[name=code]", "S42")
    page.fill("input[name=name]", "Test Station")
    page.fill("input[name=lat]", "22.51")
    page.fill("input[name=lon]", "114.03")
    page.wait_for_selector(".leaflet-draw-draw-polygon")
    page.click(".leaflet-draw-draw-polygon")
    box = page.locator("#area-editor .folium-map").bounding_box()  # after the click scrolled the page
    # a square from the centre of the map (inside N01) towards the lower right, closed on its first corner
    x0, y0 = box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.45
    for dx, dy in ((0, 0), (120, 0), (120, 90), (0, 90), (0, 0)):
        page.mouse.click(x0 + dx, y0 + dy)
        page.wait_for_timeout(150)
    page.wait_for_selector("#area-report[data-overlaps]", state="attached")
    assert page.get_by_test_id("area-report").get_attribute("data-overlaps") == "1"
    assert "Overlaps with neighbours: 1" in page.get_by_test_id("area-report").inner_text()
    drawn = json.loads(page.locator("#coverage").input_value())
    assert drawn["type"] == "Polygon"
    page.click("#station-form button[type=submit]")
    page.wait_for_url(f"{base_url}/admin/stations")
    with app.app_context():
        saved = stations.station_by_code("S42")
        assert saved is not None and saved.coverage["type"] == "Polygon"
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside
