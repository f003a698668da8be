"""The object matrix: what each role at station S01 may read of S01's and of S02's objects.

tests/test_authz_matrix.py checks who may call each route; this checks, for every route that
names one object (an order, a customer, a place, a serial unit, a loan, a stock level), that
an object outside the caller's station scope is answered exactly as an id that does not
exist (404) — never 403, which would let ids be probed — and that lists leave it out, while
the caller's own objects work. Roles that see every station get everything.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from core.auth import get_user
from core.extensions import db
from testsupport import PASSWORD

# an id of each kind that does not exist: the baseline an object out of scope must look like
MISSING = {"order": 999999, "customer": 999999, "store_unit": "NO-SUCH-UNIT", "van_unit": "NO-SUCH-UNIT",
           "loan_unit": "NO-SUCH-UNIT", "job_unit": "NO-SUCH-UNIT", "loan": 999999, "level": 999999,
           "store": "NO-SUCH-PLACE"}


@pytest.fixture
def world(app, make_station, make_user, make_customer):
    """S01 and S02 side by side, each with a supervisor, a stock keeper, two technicians with an order
    each, a customer, a store with stock, a unit in the store, a unit in the van, a unit the keeper
    lent from the store and one the technician lent from the van on their job. Plus a customer
    without orders, and the all-station roles."""
    from dispatch.orders import services as dispatch
    from inventory import services as inventory
    from inventory.models import StockLevel

    w = SimpleNamespace()
    w.disp = make_user("dispatcher", username="disp")
    w.admin = make_user("admin", username="boss")
    w.manager = make_user("supervisor", username="centre")  # no station: centre manager
    w.lonely = make_customer(lat=22.505, lon=114.005)  # no orders anywhere
    with app.app_context():
        dispatch.ensure_reference_data()
        db.session.commit()
    for n, lon in ((1, 114.0), (2, 114.01)):
        station = make_station(f"S0{n}", lon=lon, lat=22.5)
        tech = make_user("technician", username=f"t{n}", station=station, skills=["digital_tv"])
        mate = make_user("technician", username=f"mate{n}", station=station, skills=["digital_tv"])
        keeper = make_user("stockkeeper", username=f"k{n}", station=station)
        sup = make_user("supervisor", username=f"sup{n}", station=station)
        customer = make_customer(lat=22.505, lon=lon + 0.005)
        with app.app_context():
            actor, keeper_user = get_user(w.disp.id), get_user(keeper.id)
            for t in (tech, mate):
                dispatch.set_duty(get_user(t.id), on_duty=True, shift="day")
            orders = {}
            for t in (tech, mate):
                order = dispatch.create_order({"customer_id": customer.id, "category": "DTV-MOSAIC",
                                               "description": "Picture breaks up", "channel": "hotline"}, actor)
                assert order.station.code == f"S0{n}"
                if order.technician_id != t.id:
                    dispatch.assign(order, actor, technician_id=t.id, reason="test")
                orders[t.id] = order.id
            inventory.ensure_locations()
            if n == 1:
                inventory.save_item(sku="CONN-F", name="F connector", category="connector", actor=keeper_user)
                inventory.save_item(sku="STB-LOAN", name="Loaner box", category="set_top_box", is_serialized=True,
                                    actor=keeper_user)
            store = inventory.store_of(station.id).code
            van = inventory.van_of(get_user(tech.id)).code
            inventory.receive_batch("CONN-F", store, keeper_user, qty=10)
            inventory.receive_batch("STB-LOAN", store, keeper_user, serials=[f"U-S0{n}", f"L-S0{n}"])
            inventory.receive_batch("STB-LOAN", van, keeper_user, serials=[f"V-S0{n}", f"J-S0{n}"])
            loan = inventory.lend_loaner(orders[tech.id], customer.id, f"L-S0{n}", keeper_user)
            inventory.lend_loaner(orders[tech.id], customer.id, f"J-S0{n}", get_user(tech.id))
            level = db.session.scalar(sa.select(StockLevel.id).where(
                StockLevel.location_id == inventory.store_of(station.id).id))
            db.session.commit()
            setattr(w, f"s{n}", SimpleNamespace(
                station=station, tech=tech, mate=mate, keeper=keeper, sup=sup, customer=customer.id,
                order=orders[tech.id], mate_order=orders[mate.id], store=store, van=van, loan=loan.id,
                level=level, store_unit=f"U-S0{n}", van_unit=f"V-S0{n}", loan_unit=f"L-S0{n}",
                job_unit=f"J-S0{n}"))
    return w


def _client(app, user):
    client = app.test_client()
    resp = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert resp.status_code == 302
    return client


def _call(client, method: str, url: str, body: dict | None = None):
    if method == "GET":
        return client.get(url)
    if url.startswith("/api/"):
        return client.post(url, json=body or {})
    return client.post(url, data=body or {})


# (method, url, which object of S01 the role may use, status for it, body). `{x}` is filled with
# S01's object x for the own-object call, with S02's for the other-station call, and with an id
# that does not exist for the baseline; S02's must get what the missing id gets: 404.
READS = {
    "supervisor": [
        ("GET", "/dispatch/orders/{order}", "order", 200, None),
        ("POST", "/dispatch/orders/{order}/reveal", "order", 200, None),
        ("GET", "/dispatch/customers/{customer}", "customer", 200, None),
        ("GET", "/api/v1/orders/{order}", "order", 200, None),
        ("GET", "/api/v1/orders/{order}/candidates", "order", 200, None),
        ("GET", "/inventory/units/{unit}", "store_unit", 200, None),
        ("GET", "/inventory/units?serial={unit}", "store_unit", 302, None),
        ("GET", "/api/v1/units/{unit}", "loan_unit", 200, None),
    ],
    "stockkeeper": [
        ("GET", "/inventory/count?location={store}", "store", 200, None),
        ("POST", "/inventory/count", "store", 200, {"location": "{store}", "reason": "count"}),
        ("GET", "/inventory/units/{unit}", "store_unit", 200, None),
        ("GET", "/inventory/units/{unit}", "van_unit", 200, None),
        ("GET", "/inventory/units?serial={unit}", "loan_unit", 302, None),
        ("GET", "/api/v1/units/{unit}", "loan_unit", 200, None),
        ("POST", "/inventory/levels/{level}/reorder", "level", 302, {"reorder_point": "3", "reorder_qty": "5"}),
        ("POST", "/inventory/loans/{loan}/return", "loan", 302, None),  # last: it closes S01's loan
    ],
    "technician": [
        ("GET", "/field/jobs/{order}", "order", 200, None),
        ("GET", "/api/v1/orders/{order}", "order", 200, None),
        ("POST", "/api/v1/orders/{order}/transitions", "order", 200, {"action": "accept"}),
        ("GET", "/inventory/units/{unit}", "van_unit", 200, None),
        ("GET", "/inventory/units?serial={unit}", "van_unit", 302, None),
        ("GET", "/api/v1/units/{unit}", "van_unit", 200, None),
        ("GET", "/api/v1/units/{unit}", "job_unit", 200, None),  # lent by the technician on their job
        ("GET", "/inventory/units/{unit}", "job_unit", 200, None),
    ],
}
SLOTS = ("{order}", "{customer}", "{unit}", "{store}", "{level}", "{loan}")


def _fill(template: str, value) -> str:
    for slot in SLOTS:
        template = template.replace(slot, str(value))
    return template


def _user(w, role: str):
    return {"supervisor": w.s1.sup, "stockkeeper": w.s1.keeper, "technician": w.s1.tech}[role]


@pytest.mark.parametrize("role", sorted(READS))
def test_other_stations_objects_do_not_exist_for_station_staff(app, world, role):
    client = _client(app, _user(world, role))
    failures = []
    for method, url, key, own_status, body in READS[role]:
        mine, theirs, missing = getattr(world.s1, key), getattr(world.s2, key), MISSING[key]
        results = {}
        for label, value in (("missing", missing), ("S02", theirs), ("S01", mine)):
            filled = {k: _fill(v, value) for k, v in (body or {}).items()}
            results[label] = _call(client, method, _fill(url, value), filled).status_code
        if results["missing"] != 404 or results["S02"] != 404 or results["S01"] != own_status:
            failures.append(f"{method} {url} [{key}]: {results}")
    assert not failures, "\n".join(failures)


def test_a_technician_does_not_see_a_colleagues_job_or_the_store(app, world):
    client = _client(app, world.s1.tech)
    s1 = world.s1
    assert client.get(f"/field/jobs/{s1.mate_order}").status_code == 404
    assert client.get(f"/api/v1/orders/{s1.mate_order}").status_code == 404
    resp = client.post(f"/api/v1/orders/{s1.mate_order}/transitions", json={"action": "accept"})
    assert resp.status_code == 404
    # units in the station's store, or lent by the keeper (even for the technician's order), are not theirs
    for serial in (s1.store_unit, s1.loan_unit):
        assert client.get(f"/api/v1/units/{serial}").status_code == 404
        assert client.get(f"/inventory/units/{serial}").status_code == 404
    ids = {o["id"] for o in client.get("/api/v1/orders").get_json()["items"]}
    assert ids == {s1.order}


def test_technicians_get_no_candidates_managers_do(app, world):
    tech = _client(app, world.s1.tech).get(f"/api/v1/orders/{world.s1.order}").get_json()
    assert "candidates" not in tech
    assert all("candidates" not in o for o in
               _client(app, world.s1.tech).get("/api/v1/orders").get_json()["items"])
    for user in (world.disp, world.s1.sup):
        order = _client(app, user).get(f"/api/v1/orders/{world.s1.order}").get_json()
        assert {c["username"] for c in order["candidates"]} >= {"t1"}


def test_a_station_supervisor_sees_only_customers_with_orders_at_the_station(app, world):
    sup = _client(app, world.s1.sup)
    assert sup.get(f"/dispatch/customers/{world.lonely.id}").status_code == 404
    page = sup.get(f"/dispatch/customers/{world.s1.customer}").get_data(as_text=True)
    assert "RO-" in page
    for user in (world.disp, world.manager, world.admin):
        client = _client(app, user)
        assert client.get(f"/dispatch/customers/{world.lonely.id}").status_code == 200
        assert client.get(f"/dispatch/customers/{world.s2.customer}").status_code == 200


def test_lists_leave_other_stations_out(app, world):
    from dispatch.orders.models import RepairOrder

    with app.app_context():
        s2_numbers = set(db.session.scalars(sa.select(RepairOrder.number).where(
            RepairOrder.station_id == world.s2.station.id)))
    sup = _client(app, world.s1.sup)
    listed = {o["station"] for o in sup.get("/api/v1/orders?per_page=100").get_json()["items"]}
    assert listed == {"S01"}
    assert sup.get("/api/v1/orders?station=S02").get_json()["total"] == 0
    for user in (world.s1.sup, world.s1.keeper):
        client = _client(app, user)
        stock = client.get("/api/v1/stock?per_page=100").get_json()["items"]
        assert stock and not {lv["location"] for lv in stock} & {world.s2.store, world.s2.van}
        assert client.get(f"/api/v1/stock?location={world.s2.store}").get_json()["total"] == 0
        page = client.get(f"/inventory/?location={world.s2.store}").get_data(as_text=True)
        # the item picker names every item (the catalogue is shared); no level of S02's is listed
        levels = page.split('data-testid="levels"')[1].split("</table>")[0]
        assert world.s2.store_unit not in page and "CONN-F" not in levels and world.s2.store not in levels
        loans = client.get("/inventory/loans").get_data(as_text=True)
        assert world.s1.loan_unit in loans and world.s2.loan_unit not in loans
    page = sup.get("/dispatch/?queue=all").get_data(as_text=True)
    assert not any(number in page for number in s2_numbers)
    # the order page offers the station's own technicians to assign, not S02's
    page = sup.get(f"/dispatch/orders/{world.s1.order}").get_data(as_text=True)
    assert "(t1)" in page and "(mate1)" in page and "(t2)" not in page and "(mate2)" not in page
    assert "(t2)" in _client(app, world.disp).get(f"/dispatch/orders/{world.s1.order}").get_data(as_text=True)


def test_a_keeper_cannot_close_another_stations_loan(app, world):
    from inventory.models import Loan

    keeper = _client(app, world.s1.keeper)
    assert keeper.post(f"/inventory/loans/{world.s2.loan}/return").status_code == 404
    with app.app_context():
        loan = db.session.get(Loan, world.s2.loan)
        assert loan.returned_at is None and loan.unit.location.code == "CUSTOMERS"


def test_every_station_is_open_to_those_who_see_all(app, world):
    """The counterpart: the scope must not shut out those who see every station."""
    s2 = world.s2
    for user in (world.disp, world.manager, world.admin):
        client = _client(app, user)
        assert client.get(f"/api/v1/orders/{s2.order}").status_code == 200
        assert client.get(f"/api/v1/units/{s2.store_unit}").status_code == 200
        assert client.get(f"/api/v1/units/{s2.van_unit}").status_code == 200
        if user is not world.disp:  # dispatchers do not use the stock pages
            assert client.get(f"/inventory/units/{s2.loan_unit}").status_code == 200
            assert s2.loan_unit in client.get("/inventory/loans").get_data(as_text=True)
    admin = _client(app, world.admin)
    assert admin.get(f"/inventory/count?location={s2.store}").status_code == 200


def test_another_stations_incident_does_not_exist_for_a_station_supervisor(app, world):
    from dispatch.orders import services as dispatch
    from dispatch.deadlines.services import incidents
    from dispatch.deadlines.models import Incident

    with app.app_context():
        disp = get_user(world.disp.id)
        for _ in range(3):  # with the two of the world: five faults at one S02 address within the hour
            dispatch.create_order({"customer_id": world.s2.customer, "category": "DTV-MOSAIC",
                                   "description": "No picture", "channel": "hotline"}, disp)
        incidents.detect_incidents()
        db.session.commit()
        incident = db.session.scalar(sa.select(Incident))
        assert incident is not None and incident.station_id == world.s2.station.id
        incident_id = incident.id
    sup = _client(app, world.s1.sup)
    for method, url in (("GET", "/dispatch/incidents/{}"), ("POST", "/dispatch/incidents/{}/resolve")):
        assert _call(sup, method, url.format(999999)).status_code == 404
        assert _call(sup, method, url.format(incident_id)).status_code == 404
    assert _client(app, world.s2.sup).get(f"/dispatch/incidents/{incident_id}").status_code == 200
    with app.app_context():
        assert db.session.get(Incident, incident_id).status == "open"
