"""Stored XSS: script and template-literal payloads in every text field users store, shown on every
page that shows them, in Chromium. A payload that runs sets window.__xss; one that the CSP blocks still
logs an error; either fails the test, and the payload must be visible as plain text where it is shown.

The incident map is the attack of issue 12: five faults 10 m apart whose customer names are pieces of
a script; the incident page draws their names in map tooltips."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from e2e.conftest import log_in

pytestmark = pytest.mark.e2e

SCRIPT = (
    '<img src=x onerror="window.__xss=1">',
    "</script><script>window.__xss=1</script>",
    '"><svg onload=window.__xss=1>',
)
TEMPLATE = ("${window.__xss=1}", "`+(window.__xss=1)+`")
# A script payload and a template-literal one together (fits 120-character names); MIXES between them
# hold every payload. EVERY holds all of them, for the longer fields.
MIXES = tuple(s + t for s, t in zip(SCRIPT, TEMPLATE * 2))
EVERY = "".join(SCRIPT + TEMPLATE)


def mix(i: int, label: str) -> str:
    return f"{label} {MIXES[i % len(MIXES)]}"


def every(label: str) -> str:
    return f"{label} {EVERY}"


@pytest.fixture
def tainted(app, make_station, make_user, make_customer):
    """Two stations, staff, five faults 10 m apart (one incident) by customers with payload names,
    orders with payload descriptions and notes, callbacks with payload comments, stock with payload
    item names and reasons, payload category names."""
    from core.auth import get_user
    from core.extensions import db
    from dispatch.orders import services
    from dispatch.orders.models import Category
    from dispatch.reports.services import callbacks
    from dispatch.deadlines.services import incidents
    from inventory import services as inventory

    s1 = make_station("S01", lon=114.0, lat=22.5, size=0.02, name=mix(0, "North"), address=every("Addr"),
                      district=mix(1, "Dist"))
    s2 = make_station("S02", lon=114.02, lat=22.5, size=0.02, name=mix(2, "South"), district=mix(0, "Dist2"))
    skills = ["digital_tv", "cable_tv", "broadband"]
    tech = make_user("technician", username="t1", station=s1, skills=skills, full_name=mix(1, "Tech"))
    disp = make_user("dispatcher", username="disp", full_name=mix(2, "Disp"))
    sup = make_user("supervisor", username="sup1", station=s1, full_name=mix(0, "Sup"))
    admin = make_user("admin", username="boss")
    keeper = make_user("stockkeeper", username="keeper", station=s1, full_name=mix(1, "Keeper"))
    customers = [make_customer(name=mix(i, f"C{i}"), address=every(f"Street{i}"), lat=22.505, lon=114.005)
                 for i in range(5)]
    with app.app_context():
        services.ensure_reference_data()
        for code, i in (("DTV-MOSAIC", 0), ("BB-SLOW", 1), ("VISIT-COMPLAINT", 2)):
            cat = db.session.scalar(sa.select(Category).where(Category.code == code))
            cat.name, cat.name_zh = mix(i, f"Cat{i}"), mix(i + 1, f"Cat{i}zh")
        t1, d = get_user(tech.id), get_user(disp.id)
        services.set_duty(t1, on_duty=True, shift="day")
        services.record_position(t1.id, 22.504, 114.004)
        db.session.commit()
        # the attack: five faults 10 m apart, one incident
        faults = [services.create_order({"customer_id": c.id, "category": "DTV-MOSAIC", "channel": "hotline",
                                         "description": every(f"Desc{i}"), "lat": 22.505 + i * 0.00009,
                                         "lon": 114.005}, d).id for i, c in enumerate(customers)]
        db.session.commit()
        assert incidents.detect_incidents()["incidents opened"] == 1
        db.session.commit()
        from dispatch.deadlines.models import Incident
        incident_id = db.session.scalar(sa.select(Incident.id))
        # orders worked with notes, resolved, called back with comments
        worked = []
        for i in range(3):
            order = services.create_order({"customer_id": customers[i].id, "category": "BB-SLOW",
                                           "description": every(f"Work{i}"), "lat": 22.51, "lon": 114.01}, d)
            if order.technician_id != t1.id:
                services.assign(order, d, technician_id=t1.id, reason=every("Why"))
            for action in ("accept", "depart", "arrive"):
                services.transition(order, action, t1, note=every(f"Note-{action}"))
            services.transition(order, "resolve", t1, note=every("Fixed"), resolution_code="FIXED")
            worked.append(order)
        db.session.commit()
        callbacks.record_callback(worked[0], {"reached": False, "comment": every("NoAnswer")}, d)
        callbacks.record_callback(worked[1], {"reached": True, "fixed": False, "appointment_made": True,
                                              "on_time": True, "guided": True, "satisfaction": 1,
                                              "comment": every("Unhappy")}, d)
        token = callbacks.issue_link(worked[2], d)
        # one job still open for the technician's app
        job = services.create_order({"customer_id": customers[3].id, "category": "BB-SLOW",
                                     "description": every("Job"), "lat": 22.51, "lon": 114.01}, d)
        if job.technician_id != t1.id:
            services.assign(job, d, technician_id=t1.id, reason="t1")
        services.transition(job, "accept", t1, note=every("OnMyWay"))
        db.session.commit()
        # stock: payload item names, moves with payload reasons, a loaner at a payload customer
        k = get_user(keeper.id)
        inventory.ensure_locations()
        inventory.save_item(sku="CONN-F", name=mix(0, "Item"), category="connector", actor=k)
        inventory.save_item(sku="STB-LOAN", name=mix(1, "Box"), category="set_top_box", is_serialized=True, actor=k)
        store, van = inventory.store_of(s1.id).code, inventory.van_of(t1).code
        inventory.receive_batch("CONN-F", store, k, qty=20, reason=every("Recv"))
        inventory.receive_batch("STB-LOAN", store, k, serials=["SN1", "SN2"], reason=every("RecvSN"))
        inventory.record_move("transfer", sku="CONN-F", qty=5, source=store, target=van, reason=every("ToVan"),
                              actor=k)
        inventory.record_move("adjust", sku="CONN-F", qty=1, source=store, reason=every("Lost"), actor=k)
        inventory.lend_loaner(job.id, customers[3].id, "SN2", k)
        db.session.commit()
        worked_ids = [o.id for o in worked]
        job_id = job.id
    return SimpleNamespace(s1=s1, s2=s2, tech=tech, disp=disp, sup=sup, admin=admin, keeper=keeper,
                           customers=customers, faults=faults, worked=worked_ids, job=job_id,
                           incident=incident_id, token=token, store=store)


class Visits:
    """Opens pages in one browser page and collects every problem, so a failure lists all pages at once."""

    def __init__(self, page: Any, watch: Any, base_url: str):
        self.page, self.watch, self.base_url = page, watch, base_url
        self.problems: list[str] = []

    def check(self, where: str, expect: tuple[str, ...] = ()) -> str:
        page = self.page
        if page.evaluate("typeof window.__xss") != "undefined":
            self.problems.append(f"{where}: a payload ran")
        if self.watch.errors:
            self.problems.append(f"{where}: {self.watch.errors}")
            self.watch.errors.clear()
        text = page.locator("body").inner_text()
        for wanted in expect:
            if wanted not in text:
                self.problems.append(f"{where}: {wanted!r} is not shown as text")
        return text

    def open(self, path: str, expect: tuple[str, ...] = (), *, status: int = 200, ready: str | None = None) -> str:
        resp = self.page.goto(self.base_url + path)
        if resp is None or resp.status != status:
            self.problems.append(f"{path}: HTTP {resp.status if resp else None}")
        if ready:
            self.page.wait_for_selector(ready, state="attached")
        self.page.wait_for_load_state("load")
        return self.check(path, expect)

    def tooltips(self, where: str, expect: tuple[str, ...]) -> list[str]:
        """Open every tooltip of the page's folium map; each expected text must be one of them, as text."""
        texts = self.page.evaluate("""() => {
            const map = window[document.querySelector('.folium-map').id];
            map.eachLayer(l => { if (l.getTooltip && l.getTooltip()) { l.openTooltip(); } });
            return Array.from(document.querySelectorAll('.leaflet-tooltip'), t => t.textContent.trim());
        }""")
        for wanted in expect:
            if wanted not in texts:
                self.problems.append(f"{where}: no tooltip reads {wanted!r} (tooltips: {texts})")
        self.check(f"{where} tooltips")
        return texts

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)
        assert not self.watch.outside, self.watch.outside


def _visits(new_page, base_url: str, username: str, **page_options: Any) -> Visits:
    page, watch = new_page(**page_options)
    log_in(page, base_url, username)
    visits = Visits(page, watch, base_url)
    visits.check("after login")
    return visits


def test_incident_map_shows_script_names_as_text(new_page, base_url, tainted):
    """Issue 12's attack: the incident page's tooltips are the customers' names, as text; nothing runs."""
    for user in ("disp", "sup1"):
        v = _visits(new_page, base_url, user)
        names = tuple(mix(i, f"C{i}") for i in range(5))
        v.open(f"/dispatch/incidents/{tainted.incident}", names + (every("Street0"),), ready=".leaflet-container")
        tooltips = v.tooltips("incident map", ())
        for name in names:
            if not any(t.endswith(f" — {name}") for t in tooltips):
                v.problems.append(f"incident map: no tooltip ends with {name!r}: {tooltips}")
        v.open("/dispatch/incidents")
        v.assert_clean()


def test_dispatcher_pages(new_page, base_url, tainted):
    v = _visits(new_page, base_url, "disp")
    names = tuple(mix(i, f"C{i}") for i in range(5))
    for queue in ("open", "all", "unassigned", "waiting", "due_soon"):
        v.open(f"/dispatch/?queue={queue}")
    v.open("/dispatch/?queue=all", names[:4] + (mix(0, "North"),))
    v.open("/dispatch/?queue=all&q=C1")
    for i, oid in enumerate(tainted.faults):
        v.open(f"/dispatch/orders/{oid}", (names[i], every(f"Desc{i}"), mix(0, "Cat0")))
    v.open(f"/dispatch/orders/{tainted.worked[0]}", (every("Work0"), every("Note-accept"), every("Fixed"),
                                                     every("NoAnswer")))
    v.open(f"/dispatch/orders/{tainted.worked[1]}", (every("Unhappy"),))
    v.open(f"/dispatch/orders/{tainted.job}", (every("OnMyWay"), every("Job")))
    for i, c in enumerate(tainted.customers):
        v.open(f"/dispatch/customers/{c.id}", (names[i],))
    v.open("/dispatch/orders/new?q=Street", names + (every("Street0"),))
    v.open(f"/dispatch/orders/new?customer_id={tainted.customers[0].id}", (names[0], every("Street0"),
                                                                             mix(1, "Cat1")))
    v.open("/dispatch/incidents")
    v.open(f"/dispatch/incidents/{tainted.incident}", names, ready=".leaflet-container")
    v.open("/dispatch/board", (mix(0, "North"),))
    v.open("/dispatch/board?station=S01", (mix(0, "North"),))
    v.open("/reports/callbacks", (names[0], every("Street0"), mix(1, "Cat1")))
    v.open("/reports/", (mix(0, "Cat0"), mix(1, "Cat1")))
    for metric in ("orders", "resolved", "ftf", "callbacks", "unhappy", "backlog"):
        v.open(f"/reports/orders?metric={metric}")
    v.open("/notifications")
    v.assert_clean()


def test_live_map_feed_popups_and_list(new_page, base_url, tainted):
    v = _visits(new_page, base_url, "disp")
    page = v.page
    v.open("/dispatch/map", (mix(0, "North"), mix(2, "South")), ready='#live-map[data-state="ready"]')
    page.wait_for_selector("#map-list li")
    # the side list names the category (from the categories API) and the technician
    v.check("map list", (mix(0, "Cat0"), mix(1, "Cat1")))
    # station and coverage tooltips, technician and station icons: all plain text
    v.tooltips("live map", ("S01 " + mix(0, "North"), "S02 " + mix(2, "South")))
    assert page.locator(".map-station-icon .map-station").all_inner_texts() == ["S01", "S02"]
    assert page.locator('.map-tech[data-tech="t1"]').count() == 1
    # the popup of an order, from the order API: the customer's name as text
    page.click(f'#map-list li[data-order="{tainted.faults[0]}"] button')
    popup = page.locator(f'.order-popup[data-order="{tainted.faults[0]}"]')
    popup.get_by_test_id("popup-customer").wait_for()
    if mix(0, "C0") not in popup.get_by_test_id("popup-customer").inner_text():
        v.problems.append("map popup: the customer's name is not shown as text")
    v.check("map popup", (mix(0, "Cat0"),))
    v.assert_clean()


def test_admin_pages(app, new_page, base_url, tainted):
    v = _visits(new_page, base_url, "boss")
    names = tuple(mix(i, f"C{i}") for i in range(5))
    v.open("/admin/", ())
    v.open("/admin/stations", (mix(0, "North"), mix(2, "South")))
    # the coverage editor draws the neighbours' areas with their names as tooltips
    v.open(f"/admin/stations/{tainted.s1.id}", (mix(0, "North"),), ready=".leaflet-container")
    v.tooltips("station editor", ("S02 " + mix(2, "South"),))
    v.open(f"/admin/stations/{tainted.s2.id}", (), ready=".leaflet-container")
    v.tooltips("station editor S02", ("S01 " + mix(0, "North"),))
    v.open("/admin/stations/new", (), ready=".leaflet-container")
    v.tooltips("new station", ("S01 " + mix(0, "North"), "S02 " + mix(2, "South")))
    v.open("/admin/customers", names)
    v.open("/admin/customers?q=C2", (names[2],))
    v.open(f"/admin/customers/{tainted.customers[0].id}", (names[0],))
    v.open("/admin/users", (mix(1, "Tech"), mix(2, "Disp")))
    v.open(f"/admin/users/{tainted.tech.id}")
    # the log names the stations and people it speaks of (issue 15), as text
    v.open("/admin/audit", (mix(0, "North"), mix(1, "Tech")))
    v.open("/dispatch/incidents/settings")
    v.open("/dispatch/categories", (mix(0, "Cat0"), mix(1, "Cat1"), mix(1, "Cat0zh")))
    with app.app_context():
        from dispatch.orders.services import category_by_code
        mosaic = category_by_code("DTV-MOSAIC").id
    v.open(f"/dispatch/categories/{mosaic}")
    v.open(f"/field/categories/{mosaic}/resolution-codes", (mix(0, "Cat0"),))
    v.assert_clean()


def test_inventory_pages(new_page, base_url, tainted):
    v = _visits(new_page, base_url, "keeper")
    v.open("/inventory/", (mix(0, "Item"),))
    v.open("/inventory/items", (mix(0, "Item"), mix(1, "Box")))
    v.open("/inventory/units/SN1", (mix(1, "Box"), every("RecvSN")))
    v.open("/inventory/units/SN2", (mix(3, "C3"),))
    v.open("/inventory/loans", (mix(3, "C3"),))
    v.open("/inventory/moves/new", (mix(0, "Item"),))
    for move in ("transfer", "adjust", "scrap", "receive"):
        v.open(f"/inventory/moves/new?type={move}")
    v.open(f"/inventory/count?location={tainted.store}", (mix(0, "Item"),))
    for group in ("item", "station", "technician"):
        v.open(f"/inventory/report?group_by={group}")
    v.open("/notifications")
    v.assert_clean()


def test_field_app_pages(new_page, base_url, tainted):
    v = _visits(new_page, base_url, "t1", mobile=True)
    v.open("/field/", (every("Street3"), mix(1, "Cat1")))
    v.open(f"/field/jobs/{tainted.job}", (mix(3, "C3"), every("Job"), every("OnMyWay")))
    v.open(f"/field/jobs/{tainted.faults[0]}")
    v.open(f"/field/jobs/{tainted.job}/resolve")
    v.page.click("details summary")  # the van's stock
    v.check("resolve: the van", (mix(0, "Item"),))
    v.open("/notifications", (mix(1, "Cat1"),))
    v.assert_clean()


def test_customer_types_a_payload_comment_into_the_survey_link(new_page, base_url, tainted):
    """The survey link is public: its comment is the least trusted text; staff see it as text."""
    page, watch = new_page()
    v = Visits(page, watch, base_url)
    v.open(f"/reports/feedback/{tainted.token}")
    for q in ("fixed", "appointment_made", "on_time", "guided"):
        page.check(f'input[name="{q}"][value="yes"]')
    page.check('input[name="satisfaction"][value="5"]')
    page.fill('textarea[name="comment"]', every("Survey"))
    page.get_by_test_id("feedback-submit").click()
    page.wait_for_load_state("load")
    v.check("feedback sent", ("Thank you!",))
    staff = _visits(new_page, base_url, "disp")
    staff.open(f"/dispatch/orders/{tainted.worked[2]}", (every("Survey"),))
    staff.open(f"/api/v1/orders/{tainted.worked[2]}")
    staff.open("/reports/", ())
    v.assert_clean()
    staff.assert_clean()
