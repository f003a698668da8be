"""Issue 15, layout: the order pages use a desktop screen, the pin map has a real size at every width and
pins by click, and a phone has a navigation (a Menu button for staff, a bottom bar in the technician app)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from core.extensions import db
from e2e.conftest import log_in

pytestmark = pytest.mark.e2e
SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def unlocated(app, make_station, make_user, make_customer):
    from core.auth import get_user
    from dispatch.orders import services

    make_station("S01", lon=114.0, lat=22.5)
    disp = make_user("dispatcher")
    customer = make_customer(lat=None, lon=None, address="8 Nowhere Road")
    with app.app_context():
        services.ensure_reference_data()
        order = services.create_order({"customer_id": customer.id, "category": "DTV-MOSAIC",
                                       "description": "No picture", "channel": "hotline"}, get_user(disp.id))
        db.session.commit()
        assert order.needs_location
        return SimpleNamespace(disp=disp, order_id=order.id)


def _page(browser, base_url, username, size, locale):
    ctx = browser.new_context(viewport=SIZES[size], locale=locale)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, base_url, username)
    return page, errors


def _no_sideways_scroll(page):
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def _pin_by_click(page):
    the_map = page.locator("[data-pick-map]")
    the_map.scroll_into_view_if_needed()
    box = the_map.bounding_box()
    assert box["width"] > 300 and box["height"] >= 250, box
    the_map.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.6})
    expect(page.locator("input[name=lat]")).not_to_have_value("")
    lat = float(page.locator("input[name=lat]").input_value())
    lon = float(page.locator("input[name=lon]").input_value())
    assert -90 <= lat <= 90 and -180 <= lon <= 180


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_order_pages_use_the_screen_and_the_map_pins_by_click(browser, base_url, unlocated, size, locale):
    from e2e.conftest import ARTIFACTS
    ARTIFACTS.mkdir(exist_ok=True)
    page, errors = _page(browser, base_url, unlocated.disp.username, size, locale)
    page.goto(f"{base_url}/dispatch/orders/{unlocated.order_id}")
    expect(page.locator("[data-pick-map][data-ready='1']")).to_have_count(1)
    cards = page.locator("[data-testid=order-grid] > section.card").all()
    widths = [c.bounding_box()["width"] for c in cards[:2]]
    if size == "desktop":
        assert min(widths) > 550, widths  # two wide columns, not two 210 px cards
        assert cards[0].bounding_box()["y"] == cards[1].bounding_box()["y"]
    else:
        assert min(widths) > 340, widths  # one column, the phone's width
    note = page.locator("[data-testid=actions] input[name=note]").bounding_box()
    assert note["width"] > (450 if size == "desktop" else 300), note
    _pin_by_click(page)
    _no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"layout-order-{size}-{locale}.png"), full_page=True)

    page.goto(f"{base_url}/dispatch/orders/new")
    page.locator("details summary").click()
    expect(page.locator("[data-pick-map][data-ready='1']")).to_be_visible()
    _pin_by_click(page)
    _no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"layout-new-order-{size}-{locale}.png"), full_page=True)
    assert not errors, errors
    page.context.close()


@pytest.mark.parametrize("locale, menu", [("en-US", "Menu"), ("zh-CN", "菜单")])
def test_staff_menu_on_a_phone_opens_and_its_links_work(browser, base_url, make_user, locale, menu):
    from e2e.conftest import ARTIFACTS
    user = make_user("dispatcher")
    page, errors = _page(browser, base_url, user.username, "phone", locale)
    toggle = page.get_by_test_id("nav-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_text(menu)
    expect(toggle).to_have_attribute("aria-expanded", "false")
    nav = page.get_by_role("navigation", name="主导航" if locale == "zh-CN" else "Main")
    expect(nav).to_be_hidden()
    toggle.focus()
    page.keyboard.press("Enter")  # a real button: the keyboard opens it
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / f"layout-phone-menu-{locale}.png"), full_page=True)
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    toggle.click()
    target = nav.locator("a").nth(1)
    href = target.get_attribute("href")
    target.click()
    page.wait_for_url(base_url + href)
    _no_sideways_scroll(page)
    # on a desktop the menu is simply there, no button
    page.set_viewport_size(SIZES["desktop"])
    expect(toggle).to_be_hidden()
    expect(nav).to_be_visible()
    assert not errors, errors
    page.context.close()


@pytest.mark.parametrize("locale, stock", [("en-US", "Van stock"), ("zh-CN", "车载库存")])
def test_technician_app_has_a_bottom_bar_on_a_phone(browser, base_url, app, make_user, make_station, locale, stock):
    from e2e.conftest import ARTIFACTS
    tech = make_user("technician", station=make_station("S01"))
    page, errors = _page(browser, base_url, tech.username, "phone", locale)
    page.goto(f"{base_url}/field/")
    bar = page.get_by_test_id("tabbar")
    expect(bar).to_be_visible()
    expect(page.get_by_test_id("tab-jobs")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("tab-stock")).to_contain_text(stock)
    box = bar.bounding_box()
    assert box["y"] + box["height"] <= 844 + 1 and box["width"] >= 389
    for testid in ("tab-jobs", "tab-stock", "tab-alerts", "tab-logout"):
        assert page.get_by_test_id(testid).bounding_box()["height"] >= 44, testid
    _no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"layout-field-tabbar-{locale}.png"), full_page=True)
    # each tab stays inside the app: the bar is there on the van and alerts pages too
    page.get_by_test_id("tab-stock").click()
    page.wait_for_url(f"{base_url}/field/van")
    expect(page.get_by_test_id("tab-stock")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("van-page")).to_contain_text(stock)
    _no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"layout-field-van-{locale}.png"), full_page=True)
    page.get_by_test_id("tab-alerts").click()
    page.wait_for_url(f"{base_url}/notifications")
    expect(page.get_by_test_id("tab-alerts")).to_have_attribute("aria-current", "page")
    _no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"layout-field-alerts-{locale}.png"), full_page=True)
    page.get_by_test_id("tab-logout").click()
    page.wait_for_url(lambda url: "/login" in url)
    assert not errors, errors
    page.context.close()
