"""Pickers instead of free text (issue 15): the filters offer what the viewer's station scope holds —
stations, technicians, categories, places, items — and a value that names nothing is said beside
its picker, never a bare error page."""
from __future__ import annotations

import re


def _options(page: str, select_id: str) -> list[str]:
    m = re.search(rf'<select id="{select_id}".*?</select>', page, re.S)
    assert m, f"no picker {select_id}"
    return re.findall(r'<option value="([^"]*)"', m.group(0))


def _select(page: str, name: str) -> str:
    m = re.search(rf'<select name="{name}".*?</select>', page, re.S)
    assert m, f"no picker {name}"
    return m.group(0)


def test_scorecard_filters_are_pickers_within_the_scope(client, city, login, make_user, make_station):
    s3 = make_station("S03", lon=114.02, lat=22.5)
    make_user("technician", username="t9far", station=s3, full_name="Far Away")
    login(city.dispatcher)
    page = client.get("/reports/").get_data(as_text=True)
    assert _options(page, "f-station") == ["", "none", "S01", "S02", "S03"]
    assert {"t1", "t2", "t3", "t9far"} <= set(_options(page, "f-technician"))
    assert "DTV-MOSAIC" in _options(page, "f-category") and 'type="date" id="f-from"' in page
    login(city.supervisor)  # S01's: their station only, their technicians only
    page = client.get("/reports/").get_data(as_text=True)
    assert _options(page, "f-station") == ["S01"]
    techs = set(_options(page, "f-technician")) - {"", "none"}
    assert techs == {"t1", "t2", "t4off"}


def test_a_picked_technician_filters_and_stays_picked(client, city, login):
    login(city.dispatcher)
    page = client.get("/reports/?technician=t1&category=DTV-MOSAIC").get_data(as_text=True)
    assert '<option value="t1" selected>' in page and '<option value="DTV-MOSAIC" selected>' in page
    refused = client.get("/reports/?technician=nobody")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and '<option value="nobody" selected>' in page
    assert 'data-testid="error-technician"' in page


def test_queue_station_picker_and_a_mistyped_code_said_beside_it(client, city, login):
    login(city.dispatcher)
    page = client.get("/dispatch/?station=S02").get_data(as_text=True)
    assert _options(page, "q-station") == ["", "S01", "S02"] and '<option value="S02" selected>' in page
    resp = client.get("/dispatch/?station=XYZ&queue=open")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'data-testid="error-station"' in page and "No such station." in page
    assert 'class="error-page' not in page
    login(city.supervisor)
    assert _options(client.get("/dispatch/").get_data(as_text=True), "q-station") == ["", "S01"]


def test_reassign_to_a_station_is_a_picker(app, client, city, login, token_for):
    order = client.post("/api/v1/orders", json={"customer_id": city.customer.id, "category": "DTV-MOSAIC",
                                                "description": "x", "channel": "web"},
                        headers=token_for(city.dispatcher)).get_json()
    login(city.dispatcher)
    page = client.get(f"/dispatch/orders/{order['id']}").get_data(as_text=True)
    assert re.findall(r'<option value="(S\d\d)">', _select(page, "station")) == ["S01", "S02"]
    assert '<input name="station"' not in page


def test_stock_level_filters_are_pickers(client, city, login, make_user):
    keeper = make_user("stockkeeper", username="keeper-p", station=city.s1)
    login(keeper)
    page = client.get("/inventory/").get_data(as_text=True)
    places = re.findall(r'<option value="([^"]*)"', _select(page, "location"))
    assert "S01" in places and "S02" not in places  # the keeper's station's places only
    assert '<input type="text" name="location"' not in page and '<input type="text" name="sku"' not in page
    page = client.get("/inventory/?location=NOWHERE").get_data(as_text=True)
    assert '<option value="NOWHERE" selected>' in page  # what was asked for, kept


def test_the_figures_orders_name_their_filters_in_the_readers_words(client, city, login):
    login(city.dispatcher)
    page = client.get("/reports/orders?metric=orders&station=S01",
                      headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    summary = page.split('data-testid="drill-summary">', 1)[1].split("</p>", 1)[0]
    assert "站点 S01" in summary and "station" not in summary
