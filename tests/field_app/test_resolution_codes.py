"""Resolution codes from a list per category: a select on the resolve page, in the technician's language;
a code not in the category's list refused (page and sync); a category without a list takes any code."""
from __future__ import annotations

import pytest

from core.extensions import db
from dispatch.orders import services


@pytest.fixture
def on_site(app, shop):
    from core.auth import get_user
    from field import services as field
    with app.app_context():
        assert field.ensure_resolution_codes() > 0
        assert field.ensure_resolution_codes() == 0  # once
        tech, order = get_user(shop.tech.id), services.get_order(shop.order_id)
        for action in ("accept", "depart", "arrive"):
            services.transition(order, action, tech)
        db.session.commit()
    return shop


def test_the_resolve_page_offers_the_categorys_codes_in_both_languages(client, login, on_site):
    login(on_site.tech)
    page = client.get(f"/field/jobs/{on_site.order_id}/resolve").get_data(as_text=True)
    assert '<select id="resolution_code"' in page
    assert '<option value="STB-REPLACED">Set-top box replaced · STB-REPLACED</option>' in page
    assert "FIBER-SPLICED" not in page  # a broadband code: not for a digital TV fault
    client.post("/language/zh_CN")
    page = client.get(f"/field/jobs/{on_site.order_id}/resolve").get_data(as_text=True)
    assert "更换机顶盒 · STB-REPLACED" in page


def test_a_code_not_in_the_list_is_refused_in_words(app, client, login, on_site):
    login(on_site.tech)
    resp = client.post(f"/field/jobs/{on_site.order_id}/resolve", data={"resolution_code": "FIBER-SPLICED"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "“FIBER-SPLICED” is not a resolution code of Mosaic or frozen picture jobs" in page
    assert "not_in_list" not in page
    with app.app_context():
        assert services.get_order(on_site.order_id).status == "on_site"
    resp = client.post(f"/field/jobs/{on_site.order_id}/resolve", data={"resolution_code": "stb-reset"})
    assert resp.status_code == 302
    with app.app_context():
        order = services.get_order(on_site.order_id)
        assert (order.status, order.resolution_code) == ("resolved", "STB-RESET")


def test_a_queued_resolve_with_a_code_not_in_the_list_is_refused(app, client, login, on_site):
    login(on_site.tech)
    item = {"key": "r", "order_id": on_site.order_id, "action": "resolve", "resolution_code": "MADE-UP"}
    result = client.post("/field/sync", json={"items": [item]}).json["results"][0]
    assert (result["status"], result["code"]) == (422, "unknown_resolution_code")
    assert "pick one from the list" in result["message"]


def test_a_category_without_a_list_takes_any_code(app, client, login, shop):
    from core.auth import get_user
    with app.app_context():
        tech, order = get_user(shop.tech.id), services.get_order(shop.order_id)
        for action in ("accept", "depart", "arrive"):
            services.transition(order, action, tech)
        db.session.commit()
    login(shop.tech)
    assert 'name="resolution_code" required maxlength="40"' in client.get(
        f"/field/jobs/{shop.order_id}/resolve").get_data(as_text=True)
    assert client.post(f"/field/jobs/{shop.order_id}/resolve", data={"resolution_code": "ANY"}).status_code == 302
