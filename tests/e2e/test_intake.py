"""Issue 15, intake guardrails in the browser: on the new-order form, at a desktop and a phone size, in
English and Chinese — a point far outside the area is refused beside the location until confirmed; a
second order of the same customer shows the open one with a link and "Save anyway"; the orders waiting
for a location and those of a station with no one on shift have their queues and badges."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from core.extensions import db
from e2e.conftest import log_in

pytestmark = pytest.mark.e2e
SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
BEIJING = ("39.9042", "116.4074")  # ~1,900 km from the stations below, in Shenzhen
TEXT = {"en-US": {"outside": "Outside the service area", "open": "open that order instead", "anyway": "Save anyway",
                  "needs": "needs location", "unstaffed": "No one on shift"},
        "zh-CN": {"outside": "服务区域之外", "open": "改为打开该工单", "anyway": "仍然保存",
                  "needs": "待定位", "unstaffed": "无人在班"}}


@pytest.fixture
def intake(app, make_station, make_user, make_customer):
    """S01 with a technician on shift; S02 with nobody on shift and an order waiting there; an order
    whose customer has no map point (waiting for a location); a customer at S01 with no open order."""
    from core.auth import get_user
    from dispatch.orders import services

    s1 = make_station("S01", lon=114.0, lat=22.5)
    make_station("S02", lon=114.05, lat=22.5)
    tech = make_user("technician", username="tech-intake", station=s1, skills=["digital_tv", "broadband"])
    disp = make_user("dispatcher", username="disp-intake", full_name="Chen Jing")
    customer = make_customer(name="Wu Fang", lat=22.505, lon=114.005)
    nowhere = make_customer(name="No Point", lat=None, lon=None, address="8 Nowhere Road")
    far = make_customer(name="S02 Customer", lat=22.505, lon=114.055)
    with app.app_context():
        services.ensure_reference_data()
        services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        actor = get_user(disp.id)
        waiting = services.create_order({"customer_id": nowhere.id, "category": "DTV-MOSAIC",
                                         "description": "No picture", "channel": "hotline"}, actor)
        unstaffed = services.create_order({"customer_id": far.id, "category": "DTV-MOSAIC",
                                           "description": "No signal", "channel": "hotline"}, actor)
        db.session.commit()
        assert waiting.needs_location and services.is_unstaffed(unstaffed)
        return SimpleNamespace(disp=disp, customer=customer, waiting=waiting.number, unstaffed=unstaffed.number)


def _page(browser, base_url, username, size, locale):
    ctx = browser.new_context(viewport=SIZES[size], locale=locale)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, base_url, username)
    return ctx, page, errors


def _order_id(page) -> int:
    page.wait_for_url(re.compile(r".*/dispatch/orders/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def _no_sideways_scroll(page):
    assert page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")


@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_intake_guardrails_in_the_browser(browser, base_url, intake, size, locale):
    text = TEXT[locale]
    ctx, page, errors = _page(browser, base_url, intake.disp.username, size, locale)
    try:
        # a point in Beijing: refused beside the location, with the box that confirms it
        page.goto(f"{base_url}/dispatch/orders/new?customer_id={intake.customer.id}")
        form = page.get_by_test_id("order-form")
        form.locator("textarea[name=description]").fill("Mosaic on every channel")
        form.locator("details summary").click()
        form.locator("input[name=lat]").fill(BEIJING[0])
        form.locator("input[name=lon]").fill(BEIJING[1])
        form.locator("button.btn-big").click()
        page.wait_for_load_state("load")
        refusal = page.get_by_test_id("outside-area")
        expect(refusal).to_be_visible()
        expect(refusal).to_contain_text(text["outside"])
        expect(refusal).to_contain_text(re.compile(r"1,9\d\d\.\d (km|公里)"))  # how far, in the reader's words
        # beside the location: the point's fields are open and kept just above the refusal
        lat = page.locator("input[name=lat]")
        expect(lat).to_be_visible()
        expect(lat).to_have_value(BEIJING[0])
        assert 0 <= refusal.bounding_box()["y"] - lat.bounding_box()["y"] < 900
        confirm = page.get_by_test_id("confirm-outside")
        expect(confirm).to_be_visible()
        _no_sideways_scroll(page)
        confirm.check()
        page.get_by_test_id("order-form").locator("button.btn-big").click()
        first = _order_id(page)

        # the same customer again: the open order is shown, with a link to it and "Save anyway"
        page.goto(f"{base_url}/dispatch/orders/new?customer_id={intake.customer.id}")
        page.get_by_test_id("order-form").locator("textarea[name=description]").fill("Still no picture")
        page.get_by_test_id("order-form").locator("button.btn-big").click()
        page.wait_for_load_state("load")
        link = page.get_by_test_id("open-duplicate").first
        expect(link).to_be_visible()
        expect(link).to_have_text(text["open"])
        assert link.get_attribute("href").endswith(f"/dispatch/orders/{first}")
        anyway = page.get_by_test_id("save-anyway")
        expect(anyway).to_have_text(text["anyway"])
        _no_sideways_scroll(page)
        anyway.click()
        second = _order_id(page)
        assert second != first
        # the description typed before the warning was kept through it
        expect(page.locator("body")).to_contain_text("Still no picture")

        # the queues: waiting for a location (badge), no one on shift (the supervisor's)
        page.goto(f"{base_url}/dispatch/?queue=needs_location")
        row = page.get_by_test_id("orders").locator("tr", has_text=intake.waiting)
        expect(row.get_by_test_id("needs-location")).to_have_text(text["needs"])
        expect(page.get_by_test_id("queue-needs_location").locator(".badge")).not_to_have_text("0")
        queue = page.get_by_test_id("queue-unstaffed")
        expect(queue).to_contain_text(text["unstaffed"])
        queue.click()
        page.wait_for_load_state("load")
        expect(page.get_by_test_id("orders")).to_contain_text(intake.unstaffed)
        expect(page.get_by_test_id("orders")).not_to_contain_text(intake.waiting)
        _no_sideways_scroll(page)
        assert not errors, errors
    finally:
        ctx.close()
