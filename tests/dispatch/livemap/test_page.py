"""/dispatch/map: the folium map inside our layout, its layers, vendored assets only, both languages, 403s."""
from __future__ import annotations

import json
import re

import pytest

PAGE = "/dispatch/map"


def _page(client, resp=None) -> str:
    """The page with folium's JSON-escaped marker HTML made readable."""
    html = (resp or client.get(PAGE)).get_data(as_text=True)
    return html.replace("\\u003c", "<").replace("\\u003e", ">").replace('\\"', '"')


def _config(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="map-config">(.*?)</script>', html, re.S)
    assert match, "map-config missing"
    return json.loads(match.group(1))


def test_dispatcher_sees_the_map_in_the_layout(client, city, login, make_order):
    make_order()
    login(city.dispatcher)
    resp = client.get(PAGE)
    assert resp.status_code == 200
    html = _page(client, resp)
    assert 'class="topbar"' in html and 'class="container-wide"' in html  # our layout, full width
    assert 'id="live-map"' in html and 'class="folium-map"' in html
    cfg = _config(html)
    assert cfg["feedUrl"] == "/api/v1/orders.geojson" and cfg["orderUrl"] == "/api/v1/orders/"
    assert cfg["pollSeconds"] == 15
    assert f"var {cfg['mapName']} = L.map" in html and f"window.liveMapLayers = {cfg['controlName']};" in html
    # stations, the coverage layer, technicians with their open load, a legend
    assert "S01 Station" in html and "S02 Station" in html
    assert '"Coverage areas"' in html and '"Technicians"' in html and '"Stations"' in html  # layer control
    assert '"data-tech": "t1"' in html and '"data-tech": "t3"' in html  # icons built with setAttribute
    assert 'data-testid="map-legend"' in html
    # the filters: station, status, kind, deadline state, service line
    for name in ("station", "status", "kind", "sla_state", "service_line"):
        assert f'<select name="{name}"' in html
    assert '<option value="S02">S02 Station 2</option>' in html or '<option value="S02">S02 ' in html
    assert '<option value="due_soon">Due soon</option>' in html and '<option value="broadband">Broadband</option>' in html
    # every script and stylesheet comes from us
    srcs = re.findall(r'<(?:script[^>]*src|link[^>]*href)="([^"]+)"', html)
    assert srcs and all(s.startswith("/") for s in srcs), srcs
    assert any("leaflet-markercluster/leaflet.markercluster.js" in s for s in srcs)
    assert any("leaflet-heat/leaflet_heat.min.js" in s for s in srcs)
    assert any(s.endswith("dispatch/map.js") for s in srcs)
    # every inline script carries the CSP nonce
    nonce = re.search(r"'nonce-([^']+)'", resp.headers["Content-Security-Policy"]).group(1)
    for tag in re.findall(r"<script(?![^>]*(?:application/json|src=))[^>]*>", html):
        assert f'nonce="{nonce}"' in tag, tag


def test_technician_load_on_the_map(client, city, login, make_order, app):
    from core.extensions import db
    from dispatch.orders.models import RepairOrder
    ids = [make_order(), make_order(), make_order(22.505, 114.015)]
    with app.app_context():
        holders = [db.session.get(RepairOrder, i).technician.username for i in ids]
    login(city.dispatcher)
    html = _page(client)
    for name in ("t1", "t2", "t3"):
        count = holders.count(name)
        assert re.search(rf'e.textContent = "{count}";[^\n]*"data-tech": "{name}"', html), (name, count)


def test_tiles_come_from_the_setting(new_app, city):
    for tiles, expected in (("", False), ("http://127.0.0.1:9/tiles/{z}/{x}/{y}.png", True)):
        other = new_app(TILES_URL=tiles)
        client = other.test_client()
        assert client.post("/login", data={"username": "disp", "password": "password123"}).status_code == 302
        html = client.get(PAGE).get_data(as_text=True)
        assert ("L.tileLayer" in html) is expected
        assert ("127.0.0.1:9/tiles" in html) is expected


@pytest.mark.parametrize("role", ["technician", "stockkeeper"])
def test_field_roles_get_403(client, city, make_user, login, role):
    login(make_user(role, station=city.s1))
    assert client.get(PAGE).status_code == 403


def test_anonymous_goes_to_login(client):
    resp = client.get(PAGE)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_supervisor_sees_their_station_only(client, city, make_user, login):
    login(make_user("supervisor", station=city.s2))
    html = _page(client)
    assert "S02 Station" in html and "S01 Station" not in html
    assert '"data-tech": "t3"' in html and '"data-tech": "t1"' not in html


def test_chinese(client, city, login):
    login(city.dispatcher)
    client.post("/language/zh_CN")
    html = client.get(PAGE).get_data(as_text=True)
    assert "按截止时间显示工单" in html and "视野内的工单" in html  # legend, side list
    assert json.dumps("服务区域") in html and json.dumps("维修员") in html  # layer names, in folium's JSON
    cfg = _config(html)
    assert cfg["msg"]["orders"] == "未完成工单" and cfg["msg"]["heat"] == "故障热力图"


def test_the_page_knows_each_stations_area_for_the_station_filter(client, city, login, make_user):
    """Choosing a station fits the map to its area; "All" to every station the user sees."""
    login(city.dispatcher)
    cfg = _config(_page(client))
    # S01's area is 114.00–114.01 × 22.50–22.51 with its point inside: [[south, west], [north, east]]
    assert cfg["stationBounds"] == {"S01": [[22.5, 114.0], [22.51, 114.01]],
                                    "S02": [[22.5, 114.01], [22.51, 114.02]]}
    assert cfg["allBounds"] == [[22.5, 114.0], [22.51, 114.02]]
    assert cfg["orderPageUrl"] == "/dispatch/orders/" and cfg["searchUrl"] == "/api/v1/orders"
    client.post("/logout")
    login(make_user("supervisor", station=city.s2))
    cfg = _config(_page(client))
    assert cfg["stationBounds"] == {"S02": [[22.5, 114.01], [22.51, 114.02]]}
    assert cfg["allBounds"] == [[22.5, 114.01], [22.51, 114.02]]


def test_search_box_and_confirmation_region(client, city, login):
    login(city.dispatcher)
    html = _page(client)
    assert re.search(r'<form class="map-search" id="map-search" role="search"', html)
    assert '<input type="search" id="map-search-q" name="q"' in html
    assert re.search(r'id="map-notice"[^>]*role="status" aria-live="polite"', html)
    cfg = _config(html)
    assert cfg["msg"]["done"] == "{number} assigned to {name}."


def test_centre_manager_sees_every_station(client, city, login, make_user):
    login(make_user("supervisor", station=None))
    html = _page(client)
    assert "S01 Station" in html and "S02 Station" in html
    assert '"data-tech": "t1"' in html and '"data-tech": "t3"' in html
    assert set(_config(html)["stationBounds"]) == {"S01", "S02"}
