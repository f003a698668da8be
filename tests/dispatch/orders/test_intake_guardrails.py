"""Intake guardrails (issue 15): a point far outside every station's area is refused unless confirmed,
a possible duplicate is shown before saving, the form preselects the most common fault, and the
order page says in words why its technician was chosen."""
from __future__ import annotations

import sqlalchemy as sa

from core.extensions import db
from dispatch.orders.models import OrderEvent, RepairOrder

BEIJING = {"lat": 39.9042, "lon": 116.4074}  # ~1,900 km from the test stations in Shenzhen


def _counts(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.scalar(sa.select(sa.func.count()).select_from(RepairOrder)),
                db.session.scalar(sa.select(sa.func.count()).select_from(OrderEvent)))


def _body(city, **extra):
    return {"customer_id": city.customer.id, "category": "DTV-MOSAIC", "description": "No picture",
            "channel": "web", **extra}


def test_a_point_far_outside_every_area_is_refused_unless_confirmed(app, client, city, token_for):
    disp = token_for(city.dispatcher)
    before = _counts(app)
    resp = client.post("/api/v1/orders", json=_body(city, **BEIJING), headers=disp)
    assert resp.status_code == 422, resp.get_json()
    err = resp.get_json()["error"]
    assert err["code"] == "outside_service_area" and err["fields"]["location"] == "outside_service_area"
    assert "km" in err["message"] and "S0" in err["message"]
    assert _counts(app) == before  # nothing written
    ok = client.post("/api/v1/orders", json=_body(city, confirm_outside_area=True, **BEIJING), headers=disp)
    assert ok.status_code == 201, ok.get_json()
    notes = " ".join(e["note"] or "" for e in ok.get_json()["events"])
    assert "outside the service area" in notes


def test_a_point_just_beside_an_area_is_taken_without_asking(client, city, token_for):
    # 22.515 is ~0.5 km north of the stations' areas (lat 22.50–22.51): inside the 5 km tolerance
    resp = client.post("/api/v1/orders", json=_body(city, lat=22.515, lon=114.005),
                       headers=token_for(city.dispatcher))
    assert resp.status_code == 201, resp.get_json()


def test_an_open_order_of_the_customer_is_a_possible_duplicate(app, client, city, token_for):
    disp = token_for(city.dispatcher)
    first = client.post("/api/v1/orders", json=_body(city), headers=disp)
    assert first.status_code == 201
    before = _counts(app)
    again = client.post("/api/v1/orders", json=_body(city, check_duplicates=True), headers=disp)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "possible_duplicate"
    assert _counts(app) == before
    forced = client.post("/api/v1/orders", json=_body(city, check_duplicates=True, confirm_duplicate=True),
                         headers=disp)
    assert forced.status_code == 201
    plain = client.post("/api/v1/orders", json=_body(city), headers=disp)  # callers that do not ask
    assert plain.status_code == 201


def test_the_form_warns_of_a_duplicate_and_saves_anyway(app, client, city, login, token_for):
    client.post("/api/v1/orders", json=_body(city, description="<script>alert(1)</script>"),
                headers=token_for(city.dispatcher))
    login(city.dispatcher)
    form = {"customer_id": str(city.customer.id), "category": "DTV-MOSAIC", "description": "Mosaic again",
            "channel": "hotline"}
    before = _counts(app)
    page = client.post("/dispatch/orders/new", data=form)
    html = page.get_data(as_text=True)
    assert page.status_code in (200, 409, 422) and "open that order instead" in html
    assert "<script>alert(1)</script>" not in html
    assert _counts(app) == before
    saved = client.post("/dispatch/orders/new", data={**form, "confirm_duplicate": "1"})
    assert saved.status_code == 302 and _counts(app)[0] == before[0] + 1


def test_the_form_preselects_the_most_common_fault(app, client, city, login, token_for):
    disp = token_for(city.dispatcher)
    for _ in range(2):
        assert client.post("/api/v1/orders", json=_body(city, category="BB-SLOW", confirm_duplicate=True),
                           headers=disp).status_code == 201
    login(city.dispatcher)
    html = client.get("/dispatch/orders/new").get_data(as_text=True)
    selected = [line for line in html.splitlines() if "selected" in line and "<option" in line]
    assert any('value="BB-SLOW"' in line for line in selected), selected


def test_the_order_page_explains_the_choice_in_words(client, city, login, token_for):
    order = client.post("/api/v1/orders", json=_body(city), headers=token_for(city.dispatcher)).get_json()
    login(city.dispatcher)
    html = client.get(f"/dispatch/orders/{order['id']}").get_data(as_text=True)
    assert "Why this technician" in html and "km" in html and "lower is better" in html
    assert "score 26.4" not in html and "score " not in html.split("Why this technician")[1][:2000]
    # the skill by its name in the reader's language, not its code
    assert "with the skill Digital TV" in html and "skill digital_tv" not in html
    client.post("/language/zh_CN")
    zh = client.get(f"/dispatch/orders/{order['id']}").get_data(as_text=True)
    assert "具备技能 数字电视" in zh and "具备技能 digital_tv" not in zh
