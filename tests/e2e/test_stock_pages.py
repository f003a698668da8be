"""The stock keeper's ledger and serial units lists in a browser: at 1440 and 390 px, in English and
Chinese; filters with pickers, paging that keeps them, refusals beside their field, no sideways scroll."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from core.auth import get_user
from core.db import set_clock
from core.extensions import db
from e2e.conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.e2e

WIDTHS = {"desktop": (1440, 900), "phone": (390, 844)}
TEXT = {"en-US": {"moves": "Stock moves", "units": "Serial units", "page1": "Page 1 of 2", "page2": "Page 2 of 2",
                  "reversed": "The last day is before the first day.", "in_van": "In van"},
        "zh-CN": {"moves": "库存变动", "units": "序列号设备", "page1": "第 1 页，共 2 页", "page2": "第 2 页，共 2 页",
                  "reversed": "结束日期早于开始日期。", "in_van": "在车"}}


@pytest.fixture
def store(app, make_station, make_user):
    """S01 with a keeper, a technician's van and 60 moves over three days; S02 with moves of its own."""
    from inventory import services

    s1 = make_station("S01")
    make_station("S02", lon=114.1)
    keeper = make_user("stockkeeper", username="keeper-e2e", station=s1, full_name="Li Na")
    make_user("technician", username="tech-e2e", station=s1)
    admin = make_user("admin", username="boss-e2e")
    with app.app_context():
        boss, me = get_user(admin.id), get_user(keeper.id)
        try:
            set_clock(lambda: datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc))
            services.save_item(sku="CON-F", name="F connector", category="connector", actor=boss)
            services.save_item(sku="STB-1", name="机顶盒 4K", category="set_top_box", is_serialized=True, actor=boss)
            services.ensure_locations()
            services.record_move("receive", sku="CON-F", qty=500, target="S01", actor=boss)
            services.record_move("receive", sku="CON-F", qty=9, target="S02", actor=boss)
            services.receive_batch("STB-1", "S01", boss, serials=[f"BOX{i:03d}" for i in range(1, 6)])
            services.receive_batch("STB-1", "S02", boss, serials=["ELSEWHERE-1"])
            set_clock(lambda: datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc))
            for _ in range(52):
                services.record_move("transfer", sku="CON-F", qty=1, source="S01", target="VAN-TECH-E2E", actor=me)
            set_clock(lambda: datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc))
            services.record_move("transfer", serial="BOX002", source="S01", target="VAN-TECH-E2E", actor=me)
            db.session.commit()
        finally:
            set_clock(None)
    return keeper


def _page(new_page, locale: str, width: str):
    page, watch = new_page(locale=locale, mobile=width == "phone")
    w, h = WIDTHS[width]
    page.set_viewport_size({"width": w, "height": h})
    return page, watch


def _no_sideways_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("locale", sorted(TEXT))
def test_the_ledger_filters_and_pages(new_page, base_url, store, locale, width):
    text = TEXT[locale]
    page, watch = _page(new_page, locale, width)
    log_in(page, base_url, store.username)
    page.goto(f"{base_url}/inventory/")
    page.get_by_role("link", name=text["moves"], exact=True).click()
    page.wait_for_selector("[data-testid=moves]")
    assert page.locator("h1").inner_text() == text["moves"]
    assert page.locator("[data-testid=moves] tr[data-move]").count() == 50
    assert page.locator("nav.pager").inner_text().find(text["page1"]) >= 0
    assert page.locator("text=ELSEWHERE-1").count() == 0  # another station's moves are not listed
    _no_sideways_scroll(page)
    _shot(page, f"stock-moves-{locale}-{width}")

    # pickers: a place and a move type; the pager keeps them
    page.select_option("#f-type", "transfer")
    page.select_option("#f-location", label="VAN-TECH-E2E · tech-e2e")
    page.locator("[data-testid=move-filters] button").click()
    page.wait_for_selector("nav.pager")
    args = parse_qs(urlsplit(page.url).query)
    assert args["type"] == ["transfer"] and "location" in args
    assert page.locator("[data-testid=moves] tr[data-move]").count() == 50
    page.locator("nav.pager a").last.click()
    page.wait_for_selector(f"nav.pager >> text={text['page2']}")
    args = parse_qs(urlsplit(page.url).query)
    assert args["type"] == ["transfer"] and args["page"] == ["2"] and "location" in args
    assert page.locator("[data-testid=moves] tr[data-move]").count() == 3
    assert page.locator("#f-type").input_value() == "transfer"  # the form still shows the filters
    assert page.locator("#f-location option:checked").inner_text() == "VAN-TECH-E2E · tech-e2e"

    # reversed days: the message stands beside the field, the input is kept, no list
    page.fill("#f-from", "2026-03-03")
    page.fill("#f-to", "2026-03-01")
    page.locator("[data-testid=move-filters] button").click()
    page.wait_for_selector("[data-testid=error-to]")
    assert page.get_by_test_id("error-to").inner_text().strip().endswith(text["reversed"])
    assert page.locator("#f-to").get_attribute("aria-invalid") == "true"
    assert page.locator("#f-to").input_value() == "2026-03-01" and page.locator("#f-from").input_value() == "2026-03-03"
    assert page.get_by_test_id("moves-refused").is_visible()
    _no_sideways_scroll(page)
    _shot(page, f"stock-moves-refused-{locale}-{width}")

    # one day, fixed
    page.fill("#f-to", "2026-03-03")
    page.locator("[data-testid=move-filters] button").click()
    page.wait_for_selector("[data-testid=moves]")
    rows = page.locator("[data-testid=moves] tr[data-move]")
    assert rows.count() == 1 and "BOX002" in rows.first.inner_text() and "Li Na" in rows.first.inner_text()
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside


@pytest.mark.parametrize("width", sorted(WIDTHS))
@pytest.mark.parametrize("locale", sorted(TEXT))
def test_the_serial_units_list(new_page, base_url, store, locale, width):
    text = TEXT[locale]
    page, watch = _page(new_page, locale, width)
    log_in(page, base_url, store.username)
    page.goto(f"{base_url}/inventory/")
    page.get_by_role("link", name=text["units"], exact=True).click()
    page.wait_for_selector("[data-testid=units]")
    serials = page.locator("[data-testid=units] tr[data-unit]")
    assert serials.count() == 5 and page.locator("text=ELSEWHERE-1").count() == 0
    _no_sideways_scroll(page)
    _shot(page, f"stock-units-{locale}-{width}")
    page.fill("#u-q", "box00")
    page.select_option("#u-status", "in_van")
    page.locator("[data-testid=unit-filters] button").click()
    page.wait_for_selector("[data-testid=units] tr[data-unit='BOX002']")
    assert serials.count() == 1 and text["in_van"] in serials.first.inner_text()
    assert page.locator("#u-q").input_value() == "box00"
    page.locator("[data-testid=units] a", has_text="BOX002").click()
    page.wait_for_selector("[data-testid=history]")
    assert "BOX002" in page.locator("h1").inner_text()
    _no_sideways_scroll(page)
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside
