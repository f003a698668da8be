"""The JSON API (POST /orders/{id}/callback, GET /reports/kpis) and the pages, through the test client."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from core.extensions import db

HAPPY = {"reached": True, "fixed": True, "appointment_made": True, "on_time": True, "guided": True,
         "satisfaction": 4, "comment": "ok"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def _callback_rows(app):
    from dispatch.reports.models import Callback
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Callback))


# --------------------------------------------------------------------------- API: callbacks

def test_api_records_a_callback(client, city, two, token_for):
    resp = client.post(f"/api/v1/orders/{two['A']}/callback", json=HAPPY, headers=token_for(city.dispatcher))
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert (body["status"], body["satisfaction"], body["order_status"], body["unhappy"]) == ("answered", 4, "closed",
                                                                                          False)
    detail = client.get(f"/api/v1/orders/{two['A']}", headers=token_for(city.dispatcher)).get_json()
    assert [e["type"] for e in detail["events"]][-2:] == ["callback", "closed"]


@pytest.mark.parametrize("body, field", [
    ({**HAPPY, "satisfaction": 0}, "satisfaction"), ({**HAPPY, "satisfaction": 6}, "satisfaction"),
    ({**HAPPY, "satisfaction": "five"}, "satisfaction"), ({**HAPPY, "reached": "yes"}, "reached"),
    ({}, "reached"),
])
def test_api_bad_answers_are_422_and_write_nothing(app, client, city, two, token_for, body, field):
    resp = client.post(f"/api/v1/orders/{two['A']}/callback", json=body, headers=token_for(city.dispatcher))
    assert resp.status_code == 422
    assert field in resp.get_json()["error"]["fields"]
    assert _callback_rows(app) == 0


def test_api_refusals(app, client, city, history, two, token_for):
    headers = token_for(city.dispatcher)
    assert client.post("/api/v1/orders/999999/callback", json=HAPPY, headers=headers).status_code == 404
    open_id = history.order(utc(2026, 3, 3, 0), city.t1, city.c2)
    resp = client.post(f"/api/v1/orders/{open_id}/callback", json=HAPPY, headers=headers)
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "not_resolved"
    resp = client.post(f"/api/v1/orders/{two['A']}/callback", data="{not json", headers={
        **headers, "Content-Type": "application/json"})
    assert resp.status_code == 400
    assert client.post(f"/api/v1/orders/{two['A']}/callback", json=HAPPY,
                       headers=token_for(city.t1)).status_code == 403
    assert client.post(f"/api/v1/orders/{two['B']}/callback", json=HAPPY,
                       headers=token_for(city.supervisor)).status_code == 404  # S02's order: not there
    assert _callback_rows(app) == 0


def test_api_is_documented(client, city, token_for):
    spec = client.get("/api/v1/openapi.json", headers=token_for(city.dispatcher)).get_json()
    assert "post" in spec["paths"]["/orders/{order_id}/callback"]
    assert "get" in spec["paths"]["/reports/kpis"]


# --------------------------------------------------------------------------- API: KPIs

def test_api_kpis(client, city, two, token_for):
    resp = client.get("/api/v1/reports/kpis?from=2026-03-02&to=2026-03-03", headers=token_for(city.dispatcher))
    assert resp.status_code == 200, resp.get_json()
    k = resp.get_json()
    for name in ("orders", "resolved", "on_time_rate", "mttr_hours", "first_time_fix_rate", "repeat_rate",
                 "breaches_by_level", "satisfaction_avg", "work_points"):
        assert name in k
    assert (k["orders"], k["resolved"], k["on_time_rate"], k["mttr_hours"], k["work_points"]) == (2, 2, 0.5, 20.0, 2.6)
    assert {t["technician"]: t["work_points"] for t in k["by_technician"]} == {"t1": 1.0, "t3": 1.6}
    s01 = client.get("/api/v1/reports/kpis?from=2026-03-02&to=2026-03-03&station=S01",
                     headers=token_for(city.dispatcher)).get_json()
    assert (s01["orders"], s01["on_time_rate"], s01["station"]) == (1, 1.0, "S01")


def test_api_kpis_visibility(client, city, two, token_for):
    q = "/api/v1/reports/kpis?from=2026-03-02&to=2026-03-03"
    sup = token_for(city.supervisor)
    assert client.get(q, headers=sup).get_json()["orders"] == 1  # S01 only
    assert client.get(q + "&station=S02", headers=sup).status_code == 403
    tech = token_for(city.t3)
    mine = client.get(q, headers=tech).get_json()
    assert (mine["orders"], mine["technician"], mine["on_time_rate"]) == (1, "t3", 0.0)
    assert client.get(q + "&technician=t1", headers=tech).status_code == 403
    assert client.get(q + "&station=NOPE", headers=token_for(city.dispatcher)).status_code == 404
    for bad in ("from=2026-13-01", "from=2026-03-05&to=2026-03-01", "service_line=radio", "to=tomorrow"):
        resp = client.get(f"/api/v1/reports/kpis?{bad}", headers=token_for(city.dispatcher))
        assert resp.status_code == 422, bad
        assert resp.get_json()["error"]["fields"]


# --------------------------------------------------------------------------- pages

def test_scorecard_page_links_every_figure(client, city, two, login):
    login(city.dispatcher)
    page = client.get("/reports/?from=2026-03-02&to=2026-03-03").get_data(as_text=True)
    assert 'data-testid="table-station"' in page and 'data-testid="table-technician"' in page
    assert 'data-testid="chart-on_time_rate"' in page and "<svg" in page
    row = re.search(r'<tr data-key="S02">(.*?)</tr>', page, re.S).group(1)
    links = re.findall(r'href="([^"]+)"', row)
    assert links and all("/reports/orders?" in h and "station=S02" in h for h in links)
    target = next(h for h in links if "metric=on_time" in h).replace("&amp;", "&")
    drill = client.get(target).get_data(as_text=True)
    assert "0 orders" in drill  # S02's one order was late
    late = client.get(target.replace("metric=on_time", "metric=late")).get_data(as_text=True)
    assert re.findall(r'data-order="(\d+)"', late) == [str(two["B"])]


def test_technician_sees_only_their_card(client, city, two, login):
    login(city.t1)
    page = client.get("/reports/?from=2026-03-02&to=2026-03-03").get_data(as_text=True)
    assert 'data-testid="table-station"' not in page
    assert re.findall(r'<tr data-key="([^"]+)">', page) == ["t1"]
    assert client.get("/reports/?technician=t3").status_code == 403
    assert client.get("/reports/orders?metric=orders&technician=t3").status_code == 403
    assert client.get("/reports/callbacks").status_code == 403


def test_csv_export_of_each_table(client, city, two, login):
    login(city.dispatcher)
    for group in ("station", "technician", "category", "service_line", ""):
        resp = client.get(f"/reports/export.csv?from=2026-03-02&to=2026-03-03&group={group}")
        assert resp.status_code == 200 and resp.mimetype == "text/csv" and resp.data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"))))  # the BOM is Excel's
        assert sum(int(r["orders"]) for r in rows) == 2, group
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(client.get(
        "/reports/export.csv?from=2026-03-02&to=2026-03-03&group=technician").data.decode("utf-8-sig")))}
    assert (rows["t1"]["on_time_rate"], rows["t3"]["mttr_hours"], rows["t3"]["work_points"]) == ("1.0", "30.0", "1.6")
    assert client.get("/reports/export.csv?group=planet").status_code == 422


def test_callback_queue_page_and_forms(app, client, city, two, login, form_happy):
    login(city.dispatcher)
    page = client.get("/reports/callbacks").get_data(as_text=True)
    assert page.count('class="card callback"') == 2
    resp = client.post(f"/reports/callbacks/{two['A']}", data=form_happy)
    assert resp.status_code == 302
    resp = client.post(f"/reports/callbacks/{two['B']}", data={"reached": "no"})
    assert resp.status_code == 302
    page = client.get("/reports/callbacks").get_data(as_text=True)
    assert page.count('class="card callback"') == 1 and "1 attempts" in page
    bad = client.post(f"/reports/callbacks/{two['B']}", data={**form_happy, "satisfaction": "9"})
    assert bad.status_code == 422
    from dispatch.reports.models import Callback
    with app.app_context():
        cb = db.session.scalar(sa.select(Callback).where(Callback.order_id == two["A"]))
        assert (cb.on_time, cb.satisfaction, cb.comment) == (False, 5, "fine")


def test_link_issued_from_the_queue_and_answered_by_the_customer(app, city, two, login, form_happy):
    staff = app.test_client()
    login(city.dispatcher, c=staff)
    resp = staff.post(f"/reports/callbacks/{two['A']}/link", follow_redirects=True)
    url = re.search(r"(http://[^ <]+/reports/feedback/[A-Za-z0-9_-]+)", resp.get_data(as_text=True)).group(1)
    path = url.split("localhost", 1)[1]
    customer = app.test_client()
    form = customer.get(path)
    assert form.status_code == 200 and 'data-testid="feedback-form"' in form.get_data(as_text=True)
    answers = {k: v for k, v in form_happy.items() if k != "reached"}
    bad = customer.post(path, data={**answers, "satisfaction": "0"})
    assert bad.status_code == 422 and 'data-testid="form-error"' in bad.get_data(as_text=True)
    done = customer.post(path, data=answers)
    assert done.status_code == 200 and 'data-testid="feedback-done"' in done.get_data(as_text=True)
    again = customer.get(path)
    assert again.status_code == 410 and "answered already" in again.get_data(as_text=True)
    assert customer.get("/reports/feedback/not-a-real-token-at-all").status_code == 404


def test_expired_link_page(app, city, two, clock):
    from core.auth import get_user
    from dispatch.reports.services import callbacks
    with app.app_context():
        token = callbacks.issue_link(callbacks.order_for_callback(two["A"]), get_user(city.dispatcher.id))
        db.session.commit()
    clock.advance(days=8)
    resp = app.test_client().get(f"/reports/feedback/{token}")
    assert resp.status_code == 410 and "expired" in resp.get_data(as_text=True)


def test_pages_in_chinese(app, client, city, two, login):
    login(city.dispatcher)
    client.post("/language/zh_CN")
    page = client.get("/reports/?from=2026-03-02&to=2026-03-03").get_data(as_text=True)
    assert "考核" in page and "Scorecards" not in page
    queue = client.get("/reports/callbacks").get_data(as_text=True)
    assert "回访" in queue and "Callback queue" not in queue
    with app.app_context():
        from core.auth import get_user
        from dispatch.reports.services import callbacks
        token = callbacks.issue_link(callbacks.order_for_callback(two["B"]), get_user(city.dispatcher.id))
        db.session.commit()
    customer = app.test_client()
    customer.post("/language/zh_CN")
    survey = customer.get(f"/reports/feedback/{token}").get_data(as_text=True)
    assert "满意" in survey and "How did we do?" not in survey


def test_api_callback_honours_idempotency_key(app, client, city, two, token_for):
    headers = {**token_for(city.dispatcher), "Idempotency-Key": "call-1"}
    first = client.post(f"/api/v1/orders/{two['A']}/callback", json={"reached": False}, headers=headers)
    again = client.post(f"/api/v1/orders/{two['A']}/callback", json={"reached": False}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.get_json() == again.get_json() and again.get_json()["attempts"] == 1
    from dispatch.reports.models import Callback
    with app.app_context():
        assert db.session.scalar(sa.select(Callback.attempts).where(Callback.order_id == two["A"])) == 1


def test_csv_export_defuses_formulas_in_names(app, client, city, two, login):
    from core.auth import User
    with app.app_context():
        db.session.get(User, city.t1.id).full_name = "=HYPERLINK(\"http://evil.example\",\"t1\")"
        db.session.get(User, city.t3.id).full_name = "@SUM(1+1)"
        db.session.commit()
    login(city.dispatcher)
    text = client.get("/reports/export.csv?from=2026-03-02&to=2026-03-03&group=technician").data.decode("utf-8-sig")
    rows = {r["key"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["t1"]["label"] == "'=HYPERLINK(\"http://evil.example\",\"t1\")" and rows["t3"]["label"] == "'@SUM(1+1)"
    assert (rows["t1"]["orders"], rows["t3"]["mttr_hours"]) == ("1", "30.0")  # the figures stay numbers


def test_a_period_without_orders_says_so_instead_of_bare_headers(client, city, two, login):
    login(city.dispatcher)
    page = client.get("/reports/?from=2025-01-01&to=2025-01-31").get_data(as_text=True)
    assert 'data-testid="table-station"' not in page
    assert 'data-testid="no-rows-station"' in page and "No orders in this period for these filters." in page
    client.post("/language/zh_CN")
    zh = client.get("/reports/?from=2025-01-01&to=2025-01-31").get_data(as_text=True)
    assert "此期间内没有符合这些筛选条件的工单。" in zh
