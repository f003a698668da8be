"""The dispatcher's live map in Chromium: markers and clusters, the station filter, a popup, reassigning
from it (the timeline shows it), live updates by polling; nothing leaves 127.0.0.1, no script errors."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from core.extensions import db
from e2e.conftest import log_in

pytestmark = pytest.mark.e2e


def square(lon: float, lat: float, size: float = 0.01) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size],
                                                [lon, lat + size], [lon, lat]]]}


@pytest.fixture
def city(app, make_station, make_user, make_customer):
    """S01 (114.00–114.02) and S02 (114.02–114.04) at lat 22.50–22.52; t1, t2 at S01, t3 at S02 (on duty);
    25 orders in a heap near S01's centre (one cluster), 3 lone ones at S01 and 2 at S02."""
    from core.auth import get_user
    from dispatch.orders import services

    s1 = make_station("S01", lon=114.0, lat=22.5, size=0.02)
    s2 = make_station("S02", lon=114.02, lat=22.5, size=0.02)
    techs = [make_user("technician", username=name, station=st, skills=["digital_tv", "broadband"])
             for name, st in (("t1", s1), ("t2", s1), ("t3", s2))]
    dispatcher = make_user("dispatcher", username="disp")
    customer = make_customer(lat=22.51, lon=114.01, phone="13812345678")
    heap = [(22.5100 + i * 0.00002, 114.0100 + i * 0.00002) for i in range(25)]
    lone_s1 = [(22.503, 114.003), (22.517, 114.004), (22.503, 114.017)]
    lone_s2 = [(22.504, 114.026), (22.516, 114.035)]
    with app.app_context():
        services.ensure_reference_data()
        for tech, point in zip(techs, ((22.501, 114.001), (22.519, 114.019), (22.51, 114.03))):
            services.set_duty(get_user(tech.id), on_duty=True, shift="day")
            services.record_position(tech.id, *point)
        actor = get_user(dispatcher.id)
        ids = {}
        for group, points in (("heap", heap), ("s1", lone_s1), ("s2", lone_s2)):
            ids[group] = [services.create_order({"customer_id": customer.id, "category": "DTV-MOSAIC",
                                                 "description": "Mosaic", "channel": "hotline",
                                                 "lat": lat, "lon": lon}, actor).id for lat, lon in points]
        db.session.commit()
    return SimpleNamespace(ids=ids, total=30, customer=customer, dispatcher=dispatcher)


def _wait_loaded(page, n: int) -> None:
    page.wait_for_selector(f'#live-map[data-state="ready"][data-loaded="{n}"]', state="attached")


def test_dispatcher_works_the_map(new_page, base_url, city, app):
    page, watch = new_page()
    log_in(page, base_url, "disp")
    page.goto(f"{base_url}/dispatch/map")
    _wait_loaded(page, city.total)

    # markers for the lone orders, a cluster for the heap
    page.wait_for_selector(".marker-cluster")
    assert page.locator(".order-icon .order-dot").count() >= 5
    assert page.locator(".marker-cluster").count() >= 1
    cluster_sizes = [int(t) for t in page.locator(".marker-cluster span").all_inner_texts()]
    assert sum(cluster_sizes) + page.locator(".order-icon .order-dot").count() == city.total
    assert re.fullmatch(r"updated \d\d:\d\d:\d\d", page.get_by_test_id("map-status").inner_text())
    assert page.locator("#map-list li").count() == city.total
    assert page.get_by_test_id("side-title").inner_text() == f"Orders in view: {city.total}"
    # stations, technicians and the layer control are drawn by folium
    assert page.locator(".map-station").count() >= 2 and page.locator(".map-tech").count() >= 3
    assert page.locator(".leaflet-control-layers").count() == 1
    # the fault heat map is a layer to switch on
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 0
    page.locator(".leaflet-control-layers label", has_text="Fault heat map").locator("input").check()
    page.wait_for_selector("canvas.leaflet-heatmap-layer")

    # filter by station
    page.get_by_test_id("filter-station").select_option("S02")
    _wait_loaded(page, 2)
    assert page.locator("#map-list li").count() == 2
    assert all(" · S02 · " in t for t in page.locator("#map-list li .map-item-line").all_inner_texts()[::2])
    page.get_by_test_id("filter-station").select_option("")
    _wait_loaded(page, city.total)

    # open a lone S01 order from the side list: the map flies there and opens its popup
    order_id = city.ids["s1"][0]
    page.click(f'#map-list li[data-order="{order_id}"] button')
    popup = page.locator(f'.order-popup[data-order="{order_id}"]')
    popup.locator(".assign-btn").first.wait_for()
    customer_row = popup.get_by_test_id("popup-customer").inner_text()
    assert "****" in customer_row and "13812345678" not in customer_row  # masked phone only
    holder = popup.get_by_test_id("popup-technician").inner_text().split(": ")[-1]
    assert holder in ("t1", "t2")
    other = "t2" if holder == "t1" else "t1"

    # reassign: a reason is required, then the map and the list change at once
    button = popup.locator(f'.assign-btn[data-technician="{other}"]')
    button.click()
    assert "Say why" in popup.locator(".popup-note").inner_text()
    popup.locator(".popup-reason").fill("closer to the customer")
    button.click()
    page.wait_for_selector(f'#live-map[data-assigned="{order_id}"]', state="attached")
    page.wait_for_selector(f'.order-popup[data-order="{order_id}"] [data-testid=popup-technician]:has-text("{other}")')
    page.wait_for_selector(f'#map-list li[data-order="{order_id}"] .map-item-line:has-text(" · {other}")')

    # the order's timeline shows the reassignment by the dispatcher
    events = page.request.get(f"{base_url}/api/v1/orders/{order_id}").json()["events"]
    moved = [e for e in events if e["type"] == "reassigned"]
    assert len(moved) == 1 and moved[0]["actor"] == "disp" and moved[0]["technician"] == other
    assert moved[0]["note"] == "closer to the customer"

    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside


def test_polling_brings_new_drops_resolved_and_recolours(new_page, base_url, app, live_server, clock, request):
    city = request.getfixturevalue("city")  # made under the frozen clock
    from core.auth import get_user
    from dispatch.orders import services

    live_server.config["MAP_POLL_SECONDS"] = 2
    live_server.config["PERMANENT_SESSION_LIFETIME"] = 3 * 24 * 3600  # the clock jumps a day: stay logged in
    try:
        page, watch = new_page()
        log_in(page, base_url, "disp")
        page.goto(f"{base_url}/dispatch/map")
        _wait_loaded(page, city.total)
        with app.app_context():
            actor = get_user(city.dispatcher.id)
            new = services.create_order({"customer_id": city.customer.id, "category": "BB-SLOW",
                                         "description": "Slow", "channel": "web", "lat": 22.506,
                                         "lon": 114.03}, actor)
            services.transition(services.get_order(city.ids["s2"][0]), "cancel", actor, note="duplicate")
            db.session.commit()
            new_id = new.id
        page.wait_for_selector(f'#map-list li[data-order="{new_id}"]')
        assert page.locator(f'#map-list li[data-order="{city.ids["s2"][0]}"]').count() == 0
        assert int(page.locator("#live-map").get_attribute("data-refreshes")) >= 2
        assert page.locator(".order-icon .sla-ok").count() > 0 and page.locator(".order-icon .sla-due_soon").count() == 0
        clock.advance(hours=21)  # 24 h to restore, warned 4 h before: every order is now due soon
        page.wait_for_selector(f'#map-list li.sla-due_soon[data-order="{new_id}"]')
        page.wait_for_selector(".order-icon .sla-due_soon")
        # countdowns follow the server's clock (frozen here), not the browser's
        line = page.locator(f'#map-list li[data-order="{new_id}"] .map-item-line').nth(1).inner_text()
        assert re.search(r"(2 h 59|3 h 0) min left$", line), line
        assert page.locator(".order-icon .sla-ok").count() == 0
        clock.advance(hours=3)  # past the deadline
        page.wait_for_selector(f'#map-list li.sla-overdue[data-order="{city.ids["heap"][0]}"]')
        page.wait_for_selector(".marker-cluster.cluster-overdue")
        assert not watch.errors, watch.errors
        assert not watch.outside, watch.outside
    finally:
        live_server.config.pop("MAP_POLL_SECONDS", None)
        live_server.config["PERMANENT_SESSION_LIFETIME"] = app.config["PERMANENT_SESSION_LIFETIME"]


@pytest.mark.parametrize("role", ["technician", "stockkeeper"])
def test_field_roles_are_refused(new_page, base_url, make_user, make_station, role):
    user = make_user(role, station=make_station())
    page, watch = new_page()
    log_in(page, base_url, user.username)
    resp = page.goto(f"{base_url}/dispatch/map")
    assert resp.status == 403
    assert not watch.outside, watch.outside


def test_chinese_map(new_page, base_url, city):
    page, watch = new_page(locale="zh-CN")
    log_in(page, base_url, "disp")
    page.goto(f"{base_url}/dispatch/map")
    _wait_loaded(page, city.total)
    assert re.fullmatch(r"更新于 \d\d:\d\d:\d\d", page.get_by_test_id("map-status").inner_text())
    assert page.get_by_test_id("side-title").inner_text() == f"视野内的工单：{city.total}"
    assert "故障热力图" in page.locator(".leaflet-control-layers").inner_text()
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside
