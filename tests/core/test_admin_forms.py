"""The admin forms (users, stations, customers): one submit shows every mistake, each beside its field,
with what was typed kept; skills come from the managed list (the skills the job categories need)."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core import auth, customers, stations
from core.extensions import db

SQUARE = '{"type": "Polygon", "coordinates": [[[114.2, 22.6], [114.21, 22.6], [114.21, 22.61], [114.2, 22.61], [114.2, 22.6]]]}'


@pytest.fixture
def admin(app, make_user, login):
    from dispatch.orders import services
    with app.app_context():
        services.ensure_reference_data()  # the job categories, and with them the skills they need
        db.session.commit()
    user = make_user("admin", username="boss")
    login(user)
    return user


def _errors(page: str) -> dict[str, str]:
    """{field name: the message shown beside it}."""
    return {m.group(1): re.sub(r"\s+", " ", m.group(2)).strip()
            for m in re.finditer(r'data-testid="error-([a-z_]+)">(.*?)</small>', page, re.S)}


def _summary(page: str) -> str:
    m = re.search(r'<div class="flash flash-error form-summary"[^>]*data-testid="form-error">(.*?)</div>', page, re.S)
    assert m, "no summary at the top of the form"
    return m.group(1)


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_new_user_shows_every_mistake_at_once_and_keeps_the_input(app, client, admin):
    before = _count(app, auth.User)
    resp = client.post("/admin/users/new", data={
        "username": "Bad Name!", "full_name": "Wang <b>Wei</b>", "role": "technician", "station": "",
        "skills": ["cable_tv", "plumbing"], "password": "short"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    errors = _errors(page)
    assert set(errors) == {"username", "station", "skills", "password"}, errors
    assert "lower-case letters" in errors["username"]
    assert "must belong to a station" in errors["station"]
    assert "plumbing" in errors["skills"]
    assert "8 characters" in errors["password"]
    summary = _summary(page)
    assert "Please correct the 4 marked fields." in summary
    for name in ("username", "station", "skills", "password"):
        assert f'href="#{name}"' in summary  # each links to its field
    # each field says it is refused and which message explains it
    assert re.search(r'<input[^>]*aria-describedby="username-error"[^>]*aria-invalid="true"|'
                     r'<input[^>]*aria-invalid="true"[^>]*aria-describedby="username-error"', page)
    assert 'id="username-error"' in page
    # what was typed is kept (script as text); the ticked skills stay ticked
    assert 'value="Bad Name!"' in page and 'value="Wang &lt;b&gt;Wei&lt;/b&gt;"' in page
    assert re.search(r'<input[^>]*checked[^>]*value="cable_tv"|<input[^>]*value="cable_tv"[^>]*checked', page)
    assert re.search(r'<option selected value="technician">|<option value="technician" selected', page)
    assert _count(app, auth.User) == before


def test_unknown_skill_is_refused_and_known_ones_are_offered(app, client, admin, make_station):
    st = make_station("S01")
    page = client.get("/admin/users/new").get_data(as_text=True)
    offered = set(re.findall(r'name="skills"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="skills"', page))
    offered = {a or b for a, b in offered}
    assert offered == {"cable_tv", "digital_tv", "broadband", "fiber", "installation"}
    form = {"username": "wang.wei", "role": "technician", "station": str(st.id), "password": "password123"}
    bad = client.post("/admin/users/new", data={**form, "skills": ["plumbing"]})
    assert bad.status_code == 422 and set(_errors(bad.get_data(as_text=True))) == {"skills"}
    assert _count(app, auth.User) == 1
    ok = client.post("/admin/users/new", data={**form, "skills": ["fiber", "broadband"]})
    assert ok.status_code == 302
    with app.app_context():
        assert sorted(auth.find_user("wang.wei").skills) == ["broadband", "fiber"]


def test_an_unknown_skill_held_already_is_shown_to_untick(app, client, admin, make_user):
    tech = make_user("technician", username="old.hand", skills=["cable_tv", "plumbing"])
    page = client.get(f"/admin/users/{tech.id}").get_data(as_text=True)
    assert "plumbing (not a known skill)" in page
    bad = client.post(f"/admin/users/{tech.id}", data={"username": "old.hand", "role": "technician",
                                                       "station": str(tech.station_id),
                                                       "skills": ["cable_tv", "plumbing"], "is_enabled": "y"})
    assert bad.status_code == 422 and "plumbing" in _errors(bad.get_data(as_text=True))["skills"]
    ok = client.post(f"/admin/users/{tech.id}", data={"username": "old.hand", "role": "technician",
                                                      "station": str(tech.station_id), "skills": ["cable_tv"],
                                                      "is_enabled": "y"})
    assert ok.status_code == 302
    with app.app_context():
        assert auth.get_user(tech.id).skills == ["cable_tv"]


def test_edit_user_errors_change_nothing(app, client, admin, make_user):
    tech = make_user("technician", username="t.one", skills=["cable_tv"], full_name="Before")
    resp = client.post(f"/admin/users/{tech.id}", data={
        "username": "t.one", "full_name": "After", "role": "technician", "station": "",
        "skills": ["cable_tv"], "password": "123", "is_enabled": "y"})
    assert resp.status_code == 422
    assert set(_errors(resp.get_data(as_text=True))) == {"station", "password"}
    assert 'value="After"' in resp.get_data(as_text=True)
    with app.app_context():
        user = auth.get_user(tech.id)
        assert (user.full_name, user.station_id) == ("Before", tech.station_id)


def test_taken_username_and_bad_station_id_are_marked(app, client, admin, make_user):
    make_user("dispatcher", username="taken")
    resp = client.post("/admin/users/new", data={"username": "taken", "role": "stockkeeper",
                                                "station": "abc", "password": "password123"})
    errors = _errors(resp.get_data(as_text=True))
    assert resp.status_code == 422 and set(errors) == {"username", "station"}
    assert "taken" in errors["username"] and "No such station" in errors["station"]


def test_user_form_in_chinese(app, client, admin):
    client.post("/language/zh_CN")
    resp = client.post("/admin/users/new", data={"username": "", "role": "technician", "password": ""})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "请更正标记的 3 个字段" in _summary(page)
    errors = _errors(page)
    assert set(errors) == {"username", "station", "password"}
    assert all(re.search(r"[\u4e00-\u9fff]", m) for m in errors.values()), errors


def test_station_form_shows_every_mistake_at_once(app, client, admin, make_station):
    make_station("S01")
    before = _count(app, stations.Station)
    resp = client.post("/admin/stations/new", data={"code": "S01", "name": "", "address": "1 Road",
                                                    "lat": "abc", "lon": "500", "coverage": "{not json"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    errors = _errors(page)
    assert set(errors) == {"code", "name", "lat", "lon", "coverage"}, errors
    assert "exists already" in errors["code"] and "-90" in errors["lat"] and "-180" in errors["lon"]
    assert "Please correct the 5 marked fields." in _summary(page)
    assert 'value="abc"' in page and 'value="1 Road"' in page and "{not json</textarea>" in page
    assert _count(app, stations.Station) == before
    ok = client.post("/admin/stations/new", data={"code": "S09", "name": "Nine", "lat": "22.605",
                                                  "lon": "114.205", "coverage": SQUARE})
    assert ok.status_code == 302


def test_customer_form_shows_every_mistake_at_once(app, client, admin, make_customer):
    existing = make_customer()
    before = _count(app, customers.Customer)
    resp = client.post("/admin/customers/new", data={"account_no": existing.account_no, "name": "",
                                                     "phone": "12", "lat": "x", "lon": "114",
                                                     "segment": "residential", "services": ["radio"]})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    errors = _errors(page)
    assert set(errors) == {"account_no", "name", "phone", "lat", "services"}, errors
    assert "exists already" in errors["account_no"]
    assert 'value="12"' in page and 'value="x"' in page
    assert _count(app, customers.Customer) == before


def test_audit_filter_refusal_is_explained_in_the_form(client, admin):
    resp = client.get("/admin/audit?since=0001-01-01&until=9999-12-31&actor=boss")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'data-testid="audit-filters"' in page and 'class="error-page' not in page
    assert set(_errors(page)) == {"since", "until"} and "2000" in _errors(page)["since"]
    assert 'value="0001-01-01"' in page and 'value="boss"' in page
    assert "Please correct the 2 marked fields." in _summary(page)
    page = client.get("/admin/audit?since=2026-03-05&until=2026-03-01").get_data(as_text=True)
    assert set(_errors(page)) == {"since"}
    ok = client.get("/admin/audit?since=2026-03-01&until=2026-03-05")
    assert ok.status_code == 200 and not _errors(ok.get_data(as_text=True))


def test_the_station_form_keeps_both_names_and_the_chinese_one_is_shown_in_chinese(app, client, admin):
    ok = client.post("/admin/stations/new", data={"code": "S09", "name": "Nine", "name_zh": "第九维修站",
                                                  "lat": "22.605", "lon": "114.205", "coverage": SQUARE})
    assert ok.status_code == 302
    with app.app_context():
        station = stations.station_by_code("S09")
        assert (station.name, station.name_zh) == ("Nine", "第九维修站")
        station_id = station.id
    page = client.get(f"/admin/stations/{station_id}").get_data(as_text=True)
    assert 'value="第九维修站"' in page and "<h1>S09 Nine</h1>" in page
    client.post("/language/zh_CN")
    assert "<h1>S09 第九维修站</h1>" in client.get(f"/admin/stations/{station_id}").get_data(as_text=True)
    listed = client.get("/admin/stations").get_data(as_text=True)
    assert "Nine" in listed and "第九维修站" in listed
