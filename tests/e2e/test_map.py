"""The dispatcher's live map in Chromium: markers and clusters, the station filter (which moves the map),
search, a popup (a link to the order, why it cannot change hands), reassigning from it (confirmed in the
page; the timeline shows it), live updates by polling; nothing leaves 127.0.0.1, no script errors."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from core.extensions import db
from playwright.sync_api import expect

from e2e.conftest import log_in

pytestmark = pytest.mark.e2e
WAIT = 15_000  # ms: expect()'s own default (5 s) is short on a loaded machine


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
    # confirmed in the page, in a live region a screen reader announces
    number = page.request.get(f"{base_url}/api/v1/orders/{order_id}").json()["number"]
    notice = page.get_by_test_id("map-notice")
    expect(notice).to_have_text(f"{number} assigned to {other}.", timeout=WAIT)
    assert notice.get_attribute("role") == "status" and notice.get_attribute("aria-live") == "polite"

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
    assert page.get_by_test_id("map-search-q").get_attribute("placeholder") == "单号、客户、电话或地址"
    page.get_by_test_id("map-search-q").fill("nothing like this")
    page.get_by_test_id("map-search-go").click()
    expect(page.get_by_test_id("side-title")).to_have_text("搜索结果：0", timeout=WAIT)
    assert page.locator("#map-list-more").inner_text() == "没有匹配的未完成工单。"
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside


def _move(app, order_id: int, *actions: str) -> None:
    """Walk an order along its life cycle as its technician."""
    from core.auth import get_user
    from dispatch.orders import services

    with app.app_context():
        order = services.get_order(order_id)
        tech = get_user(order.technician_id)
        for action in actions:
            services.transition(order, action, tech)
        db.session.commit()


def _fit(page, station: str) -> None:
    """Choose a station in the filter (or "" for all) and wait until the map has been fitted to it."""
    page.get_by_test_id("filter-station").select_option(station)
    page.wait_for_selector(f'#live-map[data-view="{station or "all"}"]', state="attached")


def _in_view(page, n: int) -> None:
    """The side list lists n orders in view (re-drawn when the map has moved and the feed answered)."""
    expect(page.get_by_test_id("side-title")).to_have_text(f"Orders in view: {n}", timeout=WAIT)
    expect(page.locator("#map-list li")).to_have_count(n, timeout=WAIT)


def test_station_filter_moves_the_map_to_the_station(new_page, base_url, city):
    """Issue 15: zoomed in on an S01 order, choosing S02 used to leave the map where it was ("No open orders
    in view"); now it fits S02's area, and "All" goes back to every station."""
    page, watch = new_page()
    log_in(page, base_url, "disp")
    page.goto(f"{base_url}/dispatch/map")
    _wait_loaded(page, city.total)
    order_id = city.ids["s1"][0]
    page.click(f'#map-list li[data-order="{order_id}"] button')  # flies in close to one S01 order
    page.locator(f'.order-popup[data-order="{order_id}"] [data-testid=popup-technician]').wait_for()
    expect(page.locator("#map-list li")).not_to_have_count(city.total, timeout=WAIT)

    _fit(page, "S02")
    _in_view(page, 2)
    for oid in city.ids["s2"]:
        assert page.locator(f'#map-list li[data-order="{oid}"]').count() == 1
    assert page.locator("#map-list-more").inner_text() == ""  # not "No open orders in view."

    _fit(page, "")
    _in_view(page, city.total)
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside


ADDRESS = '88 Binhe Road <img src=x onerror="window.__xss=1">${window.__xss=1}'


@pytest.fixture
def findable(app, city, make_customer):
    """An open order at S02 for a customer with a name, phone and address of their own (with markup in it,
    which the results and the popup show as text)."""
    from core.auth import get_user
    from dispatch.orders import services

    customer = make_customer(name="Zhao Lanfang", phone="13900001111", address=ADDRESS,
                             lat=22.515, lon=114.036)
    with app.app_context():
        order = services.create_order({"customer_id": customer.id, "category": "BB-SLOW", "description": "Slow",
                                       "channel": "hotline", "lat": 22.515, "lon": 114.036,
                                       "address": ADDRESS}, get_user(city.dispatcher.id))
        db.session.commit()
        return SimpleNamespace(id=order.id, number=order.number)


def _search(page, text: str) -> None:
    page.get_by_test_id("map-search-q").fill(text)
    page.get_by_test_id("map-search-go").click()
    page.wait_for_selector('#map-search[data-state="ready"]', state="attached")


def test_search_finds_an_order_and_opens_its_popup(new_page, base_url, city, findable):
    page, watch = new_page()
    log_in(page, base_url, "disp")
    page.goto(f"{base_url}/dispatch/map")
    _wait_loaded(page, city.total + 1)
    result = page.locator(f'#map-list li.map-result[data-order="{findable.id}"]')
    # by order number, customer name, the whole phone number (spaces allowed), address
    for text in (findable.number, "Lanfang", "139 0000 1111", "Binhe"):
        _search(page, text)
        expect(page.get_by_test_id("side-title")).to_have_text("Search results: 1", timeout=WAIT)
        expect(result).to_have_count(1, timeout=WAIT)
        shown = result.inner_text()
        assert "Zhao Lanfang" in shown and ADDRESS in shown and findable.number in shown
        assert "139****1111" in shown and "13900001111" not in shown  # the phone masked, as the API gives it
    # a piece of a phone number finds nothing (no oracle for the hidden digits)
    _search(page, "1390000")
    expect(page.get_by_test_id("side-title")).to_have_text("Search results: 0", timeout=WAIT)
    assert page.locator("#map-list-more").inner_text() == "No open order matches."
    assert page.locator("#map-list li").count() == 0

    # the results stay while the map moves; choosing one flies there and opens its popup, even though the
    # station filter (S01) keeps it out of the feed
    page.get_by_test_id("filter-station").select_option("S01")
    _wait_loaded(page, 28)
    _search(page, "Lanfang")
    refreshes = int(page.locator("#live-map").get_attribute("data-refreshes"))
    result.locator("button").click()
    popup = page.locator(f'.order-popup[data-order="{findable.id}"]')
    link = popup.get_by_test_id("popup-link")
    link.wait_for()
    page.wait_for_function("n => Number(document.getElementById('live-map').dataset.refreshes) > n", arg=refreshes)
    page.wait_for_selector('#live-map[data-state="ready"]', state="attached")
    assert popup.count() == 1 and "Zhao Lanfang" in popup.get_by_test_id("popup-customer").inner_text()
    expect(page.get_by_test_id("side-title")).to_have_text("Search results: 1", timeout=WAIT)
    assert link.get_attribute("href") == f"/dispatch/orders/{findable.id}" and link.inner_text() == findable.number
    assert page.evaluate("typeof window.__xss") == "undefined"

    # Clear: back to the orders in view
    page.get_by_test_id("map-search-clear").click()
    expect(page.get_by_test_id("side-title")).to_have_text(re.compile(r"^Orders in view: \d+$"), timeout=WAIT)
    assert page.locator("#map-list li.map-result").count() == 0

    # the popup's link opens the order's page
    link.click()
    page.wait_for_url(f"**/dispatch/orders/{findable.id}")
    assert findable.number in page.locator("h1").inner_text()
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside


def test_popup_says_why_an_order_cannot_be_reassigned(new_page, base_url, city, app):
    waiting, en_route = city.ids["s1"][0], city.ids["s1"][1]
    _move(app, waiting, "accept", "depart", "arrive", "wait_parts")
    _move(app, en_route, "accept", "depart")
    page, watch = new_page()
    log_in(page, base_url, "disp")
    page.goto(f"{base_url}/dispatch/map")
    _wait_loaded(page, city.total)
    for order_id, words in ((waiting, "Waiting for parts: an order cannot be reassigned once its technician has "
                                      "been on site."),
                            (en_route, "The technician is on the way")):
        _fit(page, "S01")  # back from the last order, close up, to all of S01
        page.click(f'#map-list li[data-order="{order_id}"] button')
        popup = page.locator(f'.order-popup[data-order="{order_id}"]')
        why = popup.get_by_test_id("popup-why-not")
        why.wait_for()
        assert words in why.inner_text()
        assert popup.locator(".assign-btn").count() == 0 and popup.locator(".popup-reason").count() == 0
        assert popup.locator(".popup-candidates li").count() >= 1  # the technicians are still shown
        _fit(page, "")
    # an order that can change hands has buttons and no such sentence
    _fit(page, "S01")
    other = city.ids["s1"][2]
    page.click(f'#map-list li[data-order="{other}"] button')
    popup = page.locator(f'.order-popup[data-order="{other}"]')
    popup.locator(".assign-btn").first.wait_for()
    assert popup.get_by_test_id("popup-why-not").count() == 0
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside
