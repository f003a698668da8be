"""Issue 15, done when: each role's day walked in a real browser, at 1440x900 and at a 390x844 phone,
in English and in Chinese. Every page a role opens in a day must load without a script error and
without a bare error page, show its main heading, never scroll sideways on the phone (a wide table
scrolls inside its own wrapper), and in Chinese show no untranslated English in its headings,
navigation, buttons, table headers and labels. The day's actions (a technician's accept, depart,
arrive and resolve with a part; a supervisor's acknowledge) are taken once, on the phone in English.

Screenshots of every page land in /tmp/shots/roles/ when SCREENSHOTS=1 (kept out of CI for speed).
"""
from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect

from core.extensions import db
from e2e.conftest import log_in

pytestmark = pytest.mark.e2e
SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
SHOTS = Path("/tmp/shots/roles") if os.environ.get("SCREENSHOTS") == "1" else None
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
# ASCII words a Chinese page may show in its UI: the brand, the language switch, codes and units
LATIN_OK = {"Restore24", "English", "SKU", "CSV", "SLA", "km", "GPS", "URL", "MTTR", "API", "JSON", "Excel",
            "login"}  # an audit action's code, given as the example of what to type in the audit filter
DAY_LOGINS = ("day-disp", "day-tech", "day-stock", "day-sup", "day-manager", "day-admin")
UI = "h1, h2, h3, nav a, button:visible, th, label, legend, summary, .btn"


@pytest.fixture
def day(app, clock, make_station, make_user, make_customer):
    """One morning of the demo city, made small: two stations, a person of every role, orders in
    every state a role meets (a job for the technician, an overdue order escalated to the supervisor,
    a resolved one in the scorecards), stock in the store and the van, a loaner out."""
    from core.auth import get_user
    from core.db import set_clock
    from dispatch.deadlines.services import sla
    from dispatch.orders import services
    from inventory import services as inventory

    s1 = make_station("S01", lon=114.0, lat=22.5, name="福田站")
    make_station("S02", lon=114.01, lat=22.5, name="罗湖站")
    people = SimpleNamespace(
        dispatcher=make_user("dispatcher", username="day-disp", full_name="陈静"),
        technician=make_user("technician", username="day-tech", station=s1, full_name="王伟",
                             skills=["digital_tv", "broadband"]),
        stockkeeper=make_user("stockkeeper", username="day-stock", station=s1, full_name="李娜"),
        supervisor=make_user("supervisor", username="day-sup", station=s1, full_name="赵强"),
        manager=make_user("supervisor", username="day-manager", full_name="周敏"),
        admin=make_user("admin", username="day-admin", full_name="管理员"))
    customers = [make_customer(name=n, lat=22.505, lon=114.005 + i * 0.001, address=f"深南大道 {i + 1} 号")
                 for i, n in enumerate(("李华", "张敏", "刘洋"))]
    with app.app_context():
        services.ensure_reference_data()
        tech = get_user(people.technician.id)
        services.set_duty(tech, on_duty=True, shift="day")
        keeper = get_user(people.stockkeeper.id)
        inventory.ensure_locations()
        inventory.save_item(sku="CONN-F", name="F connector", category="connector", actor=keeper)
        inventory.save_item(sku="STB-LOAN", name="Loaner set-top box", category="set_top_box",
                            is_serialized=True, actor=keeper)
        inventory.receive_batch("CONN-F", "S01", keeper, qty=40)
        inventory.receive_batch("STB-LOAN", "S01", keeper, serials=("LN7", "LN8"))
        van = inventory.van_of(tech).code
        inventory.record_move("transfer", sku="CONN-F", qty=10, source="S01", target=van, actor=keeper)
        db.session.commit()
        clock.set(T0)
        disp = get_user(people.dispatcher.id)
        late = services.create_order({"customer_id": customers[0].id, "category": "BB-SLOW",
                                      "description": "网速很慢"}, disp)
        clock.set(T0 + timedelta(hours=20))
        done = services.create_order({"customer_id": customers[1].id, "category": "DTV-MOSAIC",
                                      "description": "马赛克"}, disp)
        for action in ("accept", "depart", "arrive"):
            services.transition(done, action, tech)
        services.transition(done, "resolve", tech, resolution_code="FIXED")
        clock.set(T0 + timedelta(hours=24, minutes=10))
        job = services.create_order({"customer_id": customers[2].id, "category": "DTV-MOSAIC",
                                     "description": "没有图像"}, disp)
        if job.technician_id != tech.id:
            services.assign(job, disp, technician_id=tech.id, reason="e2e")
        sla.escalate_overdue_orders()
        db.session.commit()
        set_clock(None)
        return SimpleNamespace(people=people, job=job.id, late=late.id, done=done.id)


def _pages(role: str, day) -> list[tuple[str, str]]:
    """(name, path) of the pages the role opens in a day."""
    return {
        "dispatcher": [("new-order", "/dispatch/orders/new"), ("queues", "/dispatch/?queue=open"),
                       ("order", f"/dispatch/orders/{day.late}"), ("map", "/dispatch/map"),
                       ("board", "/dispatch/board")],
        "technician": [("jobs", "/field/"), ("job", f"/field/jobs/{day.job}"), ("van-stock", "/inventory/"),
                       ("alerts", "/notifications")],
        "stockkeeper": [("levels", "/inventory/"), ("move", "/inventory/moves/new"), ("moves", "/inventory/moves"),
                        ("units", "/inventory/units"), ("loans", "/inventory/loans")],
        "supervisor": [("board", "/dispatch/board"), ("scorecards", "/reports/"),
                       ("figure", "/reports/orders?metric=orders&from=2026-03-01&to=2026-03-03"),
                       ("callbacks", "/reports/callbacks"), ("queues", "/dispatch/?queue=open")],
        "manager": [("board", "/dispatch/board"), ("queues", "/dispatch/?queue=overdue"), ("scorecards", "/reports/")],
        "admin": [("admin", "/admin/"), ("users", "/admin/users"), ("stations", "/admin/stations"),
                  ("sla-policies", "/dispatch/sla-policies"), ("audit", "/admin/audit")],
    }[role]


def _check(page, errors: list[str], where: str, size: str, locale: str, allowed: set[str]) -> list[str]:
    """What is wrong with the page as it stands (empty: nothing)."""
    problems = [f"{where}: script error {e}" for e in errors]
    errors.clear()
    title = page.title()
    if re.match(r"\s*(403|404|405|422|500)\b", title) or page.locator(".error-page").count():
        problems.append(f"{where}: error page {title!r}")
    if not page.locator("h1").first.is_visible():
        problems.append(f"{where}: no main heading")
    if size == "phone":
        wide = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        if wide > 0:
            problems.append(f"{where}: scrolls sideways by {wide}px")
    if locale == "zh-CN":
        texts = page.eval_on_selector_all(UI, "els => els.filter(e => e.offsetParent !== null || e.tagName == 'H1')"
                                              ".map(e => (e.getAttribute('aria-label') || '') + ' ' + e.innerText)")
        # a token with a digit is a code (S01, RO-…, Open311), not a word
        english = {w: t.strip()[:60] for t in texts for w in re.findall(r"[A-Za-z][A-Za-z0-9']{2,}", t)
                   if not re.search(r"\d", w) and w not in LATIN_OK and w not in allowed}
        if english:
            problems.append(f"{where}: English in the Chinese UI: {english}")
    if SHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{where.replace('/', '-')}-{size}-{locale[:2]}.png"), full_page=True)
    return problems


def _walk(browser, base_url, role: str, user, pages, *, act=None, geolocation: bool = False) -> list[str]:
    """Open each page once per language and look at it at both sizes (the window resized, as a
    phone's layout is CSS): half the page loads of a context per size."""
    problems: list[str] = []
    for locale in ("en-US", "zh-CN"):
        ctx = browser.new_context(viewport=SIZES["desktop"], locale=locale)
        if geolocation:
            ctx.grant_permissions(["geolocation"], origin=base_url)
            ctx.set_geolocation({"latitude": 22.503, "longitude": 114.004})
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
        page.on("console", lambda msg, errors=errors: errors.append(msg.text) if msg.type == "error" and not re.match(
            r"Failed to load resource: the server responded with a status of 4\d\d", msg.text) else None)
        try:
            log_in(page, base_url, user.username)
            # the day's logins are data, not UI words
            allowed = {w for name in DAY_LOGINS for w in re.findall(r"[A-Za-z]+", name)}
            for name, path in pages:
                page.goto(base_url + path)
                for size in ("desktop", "phone"):
                    page.set_viewport_size(SIZES[size])
                    problems += _check(page, errors, f"{role}/{name}", size, locale, allowed)
                page.set_viewport_size(SIZES["desktop"])
            if act is not None and locale == "en-US":
                page.set_viewport_size(SIZES["phone"])
                problems += act(page, errors, "phone", locale, allowed)
        finally:
            ctx.close()
    return problems


@pytest.mark.parametrize("role", ["dispatcher", "stockkeeper", "manager", "admin"])
def test_a_day_of_pages(browser, base_url, day, role):
    user = getattr(day.people, role)
    problems = _walk(browser, base_url, role, user, _pages(role, day))
    assert not problems, "\n".join(problems)


def test_a_technicians_day_on_the_phone(app, browser, base_url, day):
    from dispatch.orders import services

    def act(page, errors, size, locale, allowed):
        page.goto(f"{base_url}/field/jobs/{day.job}")
        for action, status in (("accept", "accepted"), ("depart", "en_route"), ("arrive", "on_site")):
            page.get_by_test_id(f"action-{action}").click()
            expect(page.get_by_test_id("job-status")).to_have_attribute("data-status", status)
        page.get_by_test_id("action-resolve").click()
        expect(page.locator("html[data-ready='1']")).to_have_count(1)
        out = _check(page, errors, "technician/resolve", size, locale, allowed)
        code = page.get_by_test_id("resolution-code")
        if code.evaluate("e => e.tagName") == "SELECT":
            code.select_option(index=1 if code.locator("option").count() > 1 else 0)
        else:
            code.fill("REPLACED-CONNECTOR")
        scan = page.get_by_test_id("scan")
        scan.fill("conn-f")
        scan.press("Enter")
        expect(page.get_by_test_id("part-code")).to_have_value("CONN-F")
        page.get_by_test_id("resolve-submit").click()
        expect(page.get_by_test_id("landing")).to_be_visible()
        page.get_by_test_id("tab-stock").click()
        page.wait_for_load_state("load")
        out += _check(page, errors, "technician/van-after", size, locale, allowed)
        expect(page.get_by_test_id("van-page")).to_be_visible()  # the app's own van page
        van_row = page.get_by_test_id("van-item").filter(has_text="CONN-F")
        expect(van_row.get_by_test_id("van-qty")).to_contain_text(re.compile(r"^9\b"))  # 10 in the van, one used
        page.goto(f"{base_url}/notifications")
        return out + _check(page, errors, "technician/alerts-after", size, locale, allowed)

    problems = _walk(browser, base_url, "technician", day.people.technician, _pages("technician", day), act=act,
                     geolocation=True)
    assert not problems, "\n".join(problems)
    with app.app_context():
        assert services.get_order(day.job).status == "resolved"


def test_a_supervisors_day_with_an_acknowledge(app, browser, base_url, day):
    def act(page, errors, size, locale, allowed):
        page.goto(f"{base_url}/dispatch/board")
        rows = page.get_by_test_id("escalation-row").count()
        assert rows >= 1
        page.get_by_test_id("ack-button").first.click()
        page.wait_for_load_state("load")
        expect(page.locator(".flash-success")).to_have_count(1)
        assert page.get_by_test_id("escalation-row").count() == rows - 1
        return _check(page, errors, "supervisor/board-acknowledged", size, locale, allowed)

    problems = _walk(browser, base_url, "supervisor", day.people.supervisor, _pages("supervisor", day), act=act)
    assert not problems, "\n".join(problems)
