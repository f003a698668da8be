"""Refusals in words, not codes; the van's serial numbers on the resolve page; removable part lines."""
from __future__ import annotations

from dispatch.orders import services


def _to_site(app, shop):
    from core.auth import get_user
    from core.extensions import db
    with app.app_context():
        tech, order = get_user(shop.tech.id), services.get_order(shop.order_id)
        for action in ("accept", "depart", "arrive"):
            services.transition(order, action, tech)
        db.session.commit()


def _resolve(client, shop, **form):
    return client.post(f"/field/jobs/{shop.order_id}/resolve", data={"resolution_code": "FIXED", **form})


def test_a_shortage_says_what_is_short_in_words(app, client, login, shop, van_stock):
    van_stock(shop.tech)
    _to_site(app, shop)
    login(shop.tech)
    resp = _resolve(client, shop, part_code=["conn-f"], part_qty=["11"])
    page = resp.get_data(as_text=True)
    assert resp.status_code == 409
    assert "Not enough F connector (CONN-F) in your van: 10 left, 11 asked." in page
    assert "not_enough" not in page and "parts:" not in page


def test_unknown_codes_and_units_elsewhere_are_said_in_words(app, client, login, shop, van_stock):
    van_stock(shop.tech)
    _to_site(app, shop)
    login(shop.tech)
    page = _resolve(client, shop, part_code=["NOPE-1"], part_qty=["1"]).get_data(as_text=True)
    assert "NOPE-1 is neither a SKU nor a serial number we know." in page and "unknown" not in page


def test_a_unit_in_another_van_is_refused_in_words(app, client, login, shop, van_stock, make_user):
    from testsupport import stock_technician_van
    van_stock(shop.tech)
    other_van = stock_technician_van(app, make_user, shop.mate, ("MATE1",))
    _to_site(app, shop)
    login(shop.tech)
    resp = _resolve(client, shop, part_code=["mate1"], part_qty=["1"])
    assert resp.status_code == 409
    assert f"Unit MATE1 is not in your van: it is at {other_van}." in resp.get_data(as_text=True)


def test_a_missing_resolution_code_names_the_field_in_words(app, client, login, shop):
    _to_site(app, shop)
    login(shop.tech)
    page = client.post(f"/field/jobs/{shop.order_id}/resolve", data={"resolution_code": ""}).get_data(as_text=True)
    assert "Resolution code: required, at most 40 characters" in page and "resolution_code:" not in page


def test_a_queued_shortage_is_reported_in_words(app, clock, client, login, shop, van_stock):
    van_stock(shop.tech)
    _to_site(app, shop)
    login(shop.tech)
    clock.advance(minutes=1)
    item = {"key": "r", "order_id": shop.order_id, "action": "resolve", "at": clock.current.isoformat(),
            "resolution_code": "FIXED", "parts": [{"code": "CONN-F", "qty": 12}]}
    result = client.post("/field/sync", json={"items": [item]}).json["results"][0]
    assert (result["status"], result["code"]) == (409, "not_enough")
    assert result["message"] == "Not enough F connector (CONN-F) in your van: 10 left, 12 asked."


def test_a_step_that_no_longer_fits_is_said_with_the_action_named(app, client, login, shop):
    login(shop.tech)
    resp = client.post(f"/field/jobs/{shop.order_id}/act", data={"action": "arrive"},
                       headers={"Accept": "application/json"})
    assert resp.status_code == 409
    assert resp.json["error"]["message"] == "This job is Assigned now: “Arrived” no longer fits. Check the job."


def test_the_van_list_shows_serial_numbers_and_lines_can_be_removed(app, client, login, shop, van_stock):
    van_stock(shop.tech)
    _to_site(app, shop)
    login(shop.tech)
    page = client.get(f"/field/jobs/{shop.order_id}/resolve").get_data(as_text=True)
    assert 'data-testid="van-serials"' in page
    assert 'data-code="LN1"' in page and 'data-code="LN2"' in page
    assert page.count('data-testid="part-remove"') == 1


def test_the_van_page_lists_only_the_own_van_with_serials_inside_the_app(app, client, login, shop, van_stock,
                                                                       make_user):
    from testsupport import stock_technician_van

    login(shop.tech)
    empty = client.get("/field/van").get_data(as_text=True)
    assert ('data-testid="no-van"' in empty or 'data-testid="van-empty"' in empty) and 'data-testid="tabbar"' in empty
    van_stock(shop.tech)
    stock_technician_van(app, make_user, shop.mate, ("LN9",))  # another technician's van: never shown here
    page = client.get("/field/van").get_data(as_text=True)
    assert page.count('data-testid="van-item"') == 2, page[page.find("<main"):][:1500]  # connectors, loaners
    assert "VAN-TECH" in page.upper() and "VAN-MATE" not in page.upper(), page[page.find("van-page"):][:300]
    assert page.count('data-testid="van-serial"') == 2 and ">LN1<" in page and ">LN2<" in page and "LN9" not in page
    assert '<a href="/field/van" data-testid="tab-stock" aria-current="page">' in page
    client.post("/language/zh_CN")
    zh = client.get("/field/van").get_data(as_text=True)
    assert "车载库存" in zh and "序列号" in zh


def test_the_van_page_is_the_technicians_own(client, login, shop):
    login(shop.disp)
    assert client.get("/field/van").status_code == 403
