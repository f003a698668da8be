"""The technicians' app on a phone (360 px, touch) in Chromium: offline actions replayed once and in order,
installability, no sideways scrolling, and a resolve that takes parts and lends a loaner."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from core.extensions import db
from e2e.conftest import log_in

pytestmark = pytest.mark.e2e
HERE = {"latitude": 22.503, "longitude": 114.004}


@pytest.fixture
def job(app, make_station, make_user, make_customer):
    from core.auth import get_user
    from dispatch.orders import services

    station = make_station("S01", lon=114.0, lat=22.5)
    tech = make_user("technician", station=station, skills=["digital_tv"])
    disp = make_user("dispatcher")
    customer = make_customer(lat=22.505, lon=114.005, phone="13812348000", name="Li Hua")
    with app.app_context():
        services.ensure_reference_data()
        services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        order = services.create_order({"customer_id": customer.id, "category": "DTV-MOSAIC",
                                       "description": "Picture breaks up", "channel": "hotline"}, get_user(disp.id))
        db.session.commit()
        return SimpleNamespace(tech=tech, order_id=order.id, number=order.number)


def _phone(new_page, base_url, username, locale="en-US"):
    page, watch = new_page(locale=locale, mobile=True)
    page.context.grant_permissions(["geolocation"], origin=base_url)
    page.context.set_geolocation(HERE)
    log_in(page, base_url, username)
    return page, watch


def _events(app, order_id):
    from dispatch.orders import services
    with app.app_context():
        return [(e.type, e.lat) for e in services.timeline(services.get_order(order_id))]


def test_offline_actions_are_replayed_once_in_order(new_page, base_url, app, job):
    page, watch = _phone(new_page, base_url, job.tech.username)
    page.goto(f"{base_url}/field/")
    expect(page.get_by_test_id("job")).to_have_count(1)
    expect(page.get_by_test_id("countdown")).to_have_text(re.compile(r"left"))
    page.get_by_test_id("job").click()
    expect(page.get_by_test_id("job-number")).to_have_text(job.number)
    page.get_by_test_id("action-accept").click()
    expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", "accepted")
    expect(page.locator("html[data-sw=active][data-ready='1']")).to_have_count(1)

    page.context.set_offline(True)
    expect(page.get_by_test_id("offline-banner")).to_be_visible()
    page.get_by_test_id("action-depart").click()
    expect(page.get_by_test_id("action-arrive")).to_be_visible()  # the next step, predicted on the phone
    page.get_by_test_id("action-arrive").click()
    expect(page.locator("html[data-pending='2']")).to_have_count(1)
    expect(page.get_by_test_id("pending")).to_be_visible()
    assert [t for t, _lat in _events(app, job.order_id)][-1] == "accepted"  # nothing reached the server yet
    page.reload()  # a page reload offline comes from the service worker's cache
    expect(page.get_by_test_id("job-number")).to_have_text(job.number)
    expect(page.locator("html[data-pending='2']")).to_have_count(1)

    page.context.set_offline(False)
    expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", "on_site")
    expect(page.locator("html[data-pending='0']")).to_have_count(1)
    steps = [(t, lat) for t, lat in _events(app, job.order_id) if t in ("accepted", "departed", "arrived")]
    assert steps == [("accepted", HERE["latitude"]), ("departed", HERE["latitude"]), ("arrived", HERE["latitude"])]
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside


@pytest.mark.parametrize("locale, accept", [("en-US", "Accept"), ("zh-CN", "接受")])
def test_installable_and_fits_360_px(new_page, base_url, job, locale, accept):
    page, watch = _phone(new_page, base_url, job.tech.username, locale)
    page.goto(f"{base_url}/field/jobs/{job.order_id}")
    expect(page.get_by_test_id("action-accept")).to_have_text(accept)
    manifest_url = page.locator("link[rel=manifest]").get_attribute("href")
    manifest = page.request.get(base_url + manifest_url).json()
    assert manifest["start_url"] == "/field/" and manifest["scope"] == "/field/"
    assert manifest["display"] == "standalone" and manifest["name"] and manifest["short_name"]
    sizes = {i["sizes"] for i in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        assert page.request.get(base_url + icon["src"]).headers["content-type"] == "image/png"
    expect(page.locator("html[data-sw=active]")).to_have_count(1)
    assert any(w.url.endswith("/field/sw.js") for w in page.context.service_workers)

    html = page.locator("html")
    assert int(html.get_attribute("data-doc-width")) <= int(html.get_attribute("data-view-width")) == 360
    for testid in ("action-accept", "action-decline", "reveal", "geo-link"):
        box = page.get_by_test_id(testid).bounding_box()
        assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 360, testid
    page.get_by_test_id("reveal").click()
    expect(page.get_by_test_id("call")).to_have_attribute("href", "tel:13812348000")
    page.goto(f"{base_url}/field/")
    assert int(html.get_attribute("data-doc-width")) <= 360
    assert not watch.errors, watch.errors


def test_resolve_with_parts_and_a_loaner_updates_stock(new_page, base_url, app, job, make_user):
    from core.auth import get_user
    from dispatch.orders import services
    from inventory import services as inventory
    keeper = make_user("stockkeeper", station=SimpleNamespace(id=job.tech.station_id))
    with app.app_context():
        k = get_user(keeper.id)
        inventory.ensure_locations()
        inventory.save_item(sku="CONN-F", name="F connector", category="connector", actor=k)
        inventory.save_item(sku="STB-LOAN", name="Loaner box", category="set_top_box", is_serialized=True, actor=k)
        van = inventory.van_of(get_user(job.tech.id)).code
        inventory.receive_batch("CONN-F", van, k, qty=10)
        inventory.receive_batch("STB-LOAN", van, k, serials=("LN1",))
        order = services.get_order(job.order_id)
        for action in ("accept", "depart", "arrive"):
            services.transition(order, action, get_user(job.tech.id))
        db.session.commit()

    page, watch = _phone(new_page, base_url, job.tech.username)
    page.goto(f"{base_url}/field/jobs/{job.order_id}")
    page.get_by_test_id("action-resolve").click()
    expect(page.locator("html[data-ready='1']")).to_have_count(1)
    page.get_by_test_id("resolution-code").fill("REPLACED-CONNECTOR")
    scan = page.get_by_test_id("scan")
    for _ in range(3):  # a scanner types the code and presses Enter; the same code again counts up
        scan.fill("conn-f")
        scan.press("Enter")
    expect(page.get_by_test_id("part-code")).to_have_value("CONN-F")
    expect(page.get_by_test_id("part-qty")).to_have_value("3")
    page.get_by_test_id("loan-serial").fill("LN1")
    page.get_by_test_id("resolve-submit").click()
    expect(page.get_by_test_id("landing")).to_be_visible()
    with app.app_context():
        assert services.get_order(job.order_id).status == "resolved"
        assert inventory.level_of(inventory.location_by_code(van), inventory.item_by_sku("CONN-F")) == 7
        assert inventory.unit_by_serial("LN1").location.kind == "customer"
    assert not watch.errors, watch.errors


def test_reassigned_while_offline_shows_in_needs_attention(new_page, base_url, app, job, make_user):
    from core.auth import get_user
    from dispatch.orders import services
    mate = make_user("technician", station=SimpleNamespace(id=job.tech.station_id), skills=["digital_tv"])
    boss = make_user("dispatcher")
    page, watch = _phone(new_page, base_url, job.tech.username)
    page.goto(f"{base_url}/field/jobs/{job.order_id}")
    expect(page.locator("html[data-ready='1']")).to_have_count(1)
    page.context.set_offline(True)
    page.get_by_test_id("action-accept").click()
    expect(page.locator("html[data-pending='1']")).to_have_count(1)
    with app.app_context():  # meanwhile the dispatcher gives the job to someone else
        services.assign(services.get_order(job.order_id), get_user(boss.id), technician_id=mate.id, reason="closer")
        db.session.commit()
    page.context.set_offline(False)
    expect(page.get_by_test_id("attention")).to_be_visible()
    expect(page.get_by_test_id("attention")).to_contain_text("no longer assigned to you")
    expect(page.locator("html[data-pending='0']")).to_have_count(1)
    assert "accepted" not in [t for t, _lat in _events(app, job.order_id)]
    assert not watch.errors, watch.errors


def test_logout_clears_the_queue_and_cached_pages(new_page, base_url, job):
    page, watch = _phone(new_page, base_url, job.tech.username)
    page.goto(f"{base_url}/field/jobs/{job.order_id}")
    expect(page.locator("html[data-sw=active][data-ready='1']")).to_have_count(1)
    page.goto(f"{base_url}/field/jobs/{job.order_id}")  # now controlled: the page goes into the cache
    expect(page.locator("html[data-ready='1']")).to_have_count(1)
    cached = page.evaluate("() => caches.keys().then(ks => Promise.all(ks.map(k => caches.open(k)"
                           ".then(c => c.keys())))).then(all => all.flat().map(r => r.url))")
    assert f"{base_url}/field/jobs/{job.order_id}" in cached
    page.get_by_test_id("logout").click()
    page.wait_for_url(re.compile(r"/login"))
    assert page.evaluate("() => caches.keys()") == []
    names = page.evaluate("() => indexedDB.databases().then(ds => ds.map(d => d.name))")
    assert "restore24-field" not in names
    assert not watch.errors, watch.errors


def _stock_and_on_site(app, job, make_user):
    from core.auth import get_user
    from dispatch.orders import services
    from testsupport import stock_technician_van
    van = stock_technician_van(app, make_user, job.tech, ("LN1",))
    with app.app_context():
        order = services.get_order(job.order_id)
        for action in ("accept", "depart", "arrive"):
            services.transition(order, action, get_user(job.tech.id))
        db.session.commit()
    return van


@pytest.mark.parametrize("locale, words", [("en-US", "You are offline."), ("zh-CN", "您已离线。")])
def test_the_offline_banner_is_on_every_page_in_both_languages(new_page, base_url, app, job, make_user,
                                                               locale, words):
    _stock_and_on_site(app, job, make_user)
    page, watch = _phone(new_page, base_url, job.tech.username, locale)
    page.goto(f"{base_url}/field/")
    expect(page.locator("html[data-sw=active][data-ready='1']")).to_have_count(1)
    expect(page.locator("html[data-precached]")).to_have_count(1)  # the jobs' pages are saved
    paths = ["/field/", f"/field/jobs/{job.order_id}", f"/field/jobs/{job.order_id}/resolve"]
    for path in paths:
        page.goto(base_url + path)
        expect(page.locator("html[data-ready='1']")).to_have_count(1)
        expect(page.get_by_test_id("offline-banner")).to_be_hidden()
        page.context.set_offline(True)  # the events: the banner comes and goes without a reload
        expect(page.get_by_test_id("offline-banner")).to_be_visible()
        expect(page.get_by_test_id("offline-banner")).to_contain_text(words)
        page.context.set_offline(False)
        expect(page.get_by_test_id("offline-banner")).to_be_hidden()
    page.context.set_offline(True)
    for path in paths:  # opened offline: the saved copy, with the banner from the start
        page.goto(base_url + path)
        expect(page.locator("html[data-offline-copy='1'][data-ready='1']")).to_have_count(1)
        expect(page.get_by_test_id("offline-banner")).to_be_visible()
        expect(page.get_by_test_id("offline-saved")).to_be_visible()
        assert page.locator(".offline-live[aria-live]").count() == 1
    page.context.set_offline(False)
    assert not watch.errors, watch.errors


def test_a_job_never_opened_is_resolved_offline_and_keeps_the_time_tapped(new_page, base_url, app, job,
                                                                          make_user):
    from core.db import now
    from dispatch.orders import services
    from inventory import services as inventory
    van = _stock_and_on_site(app, job, make_user)
    page, watch = _phone(new_page, base_url, job.tech.username)
    page.goto(f"{base_url}/field/")  # only the list is opened online: the job and its resolve page never
    expect(page.locator("html[data-sw=active][data-ready='1'][data-precached]")).to_have_count(1)
    page.context.set_offline(True)
    page.goto(f"{base_url}/field/jobs/{job.order_id}")
    expect(page.get_by_test_id("job-number")).to_have_text(job.number)  # its own page, not the job list
    expect(page.get_by_test_id("landing")).to_have_count(0)
    expect(page.get_by_test_id("offline-banner")).to_be_visible()
    page.get_by_test_id("action-resolve").click()
    expect(page.get_by_test_id("resolve-form")).to_be_visible()
    expect(page.locator("html[data-ready='1']")).to_have_count(1)
    page.get_by_test_id("resolution-code").fill("REPLACED-CONNECTOR")
    scan = page.get_by_test_id("scan")
    for code in ("conn-f", "conn-f", "dtv-xyz"):  # a wrong code scanned, then its line removed
        scan.fill(code)
        scan.press("Enter")
    expect(page.locator(".part-line")).to_have_count(2)
    page.locator(".part-line").nth(1).get_by_test_id("part-remove").click()
    expect(page.locator(".part-line")).to_have_count(1)
    page.locator(".van-stock summary").click()
    page.get_by_test_id("van-serial").filter(has_text="LN1").click()  # the van's serial numbers are listed
    expect(page.locator(".part-line")).to_have_count(2)
    page.get_by_test_id("resolve-submit").click()
    expect(page.get_by_test_id("queued-note")).to_be_visible()
    expect(page.locator("html[data-pending='1']")).to_have_count(1)
    with app.app_context():
        assert services.get_order(job.order_id).status == "on_site"  # nothing reached the server yet
    back_online = now()
    page.context.set_offline(False)
    expect(page.locator("html[data-pending='0']")).to_have_count(1)
    with app.app_context():
        order = services.get_order(job.order_id)
        assert order.status == "resolved" and order.resolution_code == "REPLACED-CONNECTOR"
        resolved = [e for e in services.timeline(order) if e.type == "resolved"][0]
        assert resolved.at < back_online <= resolved.recorded_at  # the time tapped, not the time it arrived
        assert order.resolved_at == resolved.at
        assert inventory.level_of(inventory.location_by_code(van), inventory.item_by_sku("CONN-F")) == 8
        assert inventory.unit_by_serial("LN1").location.code != van
    assert not watch.errors, watch.errors


def test_a_page_never_saved_says_so_offline_and_old_flashes_stay_hidden(new_page, base_url, job):
    page, watch = _phone(new_page, base_url, job.tech.username)
    page.goto(f"{base_url}/field/")
    expect(page.locator("html[data-sw=active][data-ready='1'][data-precached]")).to_have_count(1)
    page.get_by_test_id("duty-toggle").click()  # the list comes back with a flash, and is saved with it
    expect(page.locator(".flash")).to_be_visible()
    expect(page.locator("html[data-ready='1']")).to_have_count(1)
    page.context.set_offline(True)
    page.goto(f"{base_url}/field/jobs/{job.order_id + 1000}")  # no such job on this phone
    expect(page.get_by_test_id("offline-page")).to_be_visible()
    expect(page.get_by_test_id("landing")).to_have_count(0)
    expect(page.get_by_test_id("offline-banner")).to_be_visible()
    page.get_by_test_id("offline-home").click()
    expect(page.get_by_test_id("landing")).to_be_visible()  # the saved list, its old flash not shown
    expect(page.locator(".flash")).to_be_hidden()
    page.context.set_offline(False)
    # the offline page comes with 503 (the page asked for is not there), which Chromium logs
    errors = [e for e in watch.errors if "status of 503" not in e]
    assert len(errors) == len(watch.errors) - 1 and not errors, watch.errors
