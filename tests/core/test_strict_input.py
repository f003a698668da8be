"""Bad input is refused with a clear 4xx and changes nothing — never a 500 (issue 12's nine causes),
and uploads get their own limit before anything reads the body."""
from __future__ import annotations

import io
import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.errors import Invalid
from core.extensions import db
from core.parse import (MAX_ID, bad_text, ids_from, is_id, json_too_deep, loads_json, parse_date, parse_datetime,
                        parse_decimal, parse_float, parse_id, parse_int)

HUGE = 10**400


# --------------------------------------------------------------------------- the parsers

@pytest.mark.parametrize("raw", ["²", "٣", "--5", "+-1", "1_000", "0x10", "1.5", "", "1" * 5000, True, 1.5,
                                 float("nan"), float("inf"), [], None])
def test_parse_int_takes_only_ascii_digits(raw):
    if raw in ("", None):
        assert parse_int(raw, "n", lo=0, hi=10) is None
        return
    with pytest.raises(Invalid) as err:
        parse_int(raw, "n", lo=0, hi=10**20)
    assert err.value.fields["n"] in ("not_integer", "out_of_range")


def test_parse_int_ranges_and_json_strictness():
    assert parse_int(" 7 ", "n", lo=0, hi=10) == 7 and parse_int(7.0, "n", lo=0, hi=10) == 7
    assert parse_int("-3", "n", lo=-5, hi=10) == -3
    for raw in (HUGE, -HUGE, 11, "11", "9" * 30):
        with pytest.raises(Invalid) as err:
            parse_int(raw, "n", lo=0, hi=10)
        assert err.value.fields == {"n": "out_of_range"}
    with pytest.raises(Invalid):
        parse_int("5", "n", lo=0, hi=10, text=False)  # a JSON integer field takes no text
    assert parse_id(MAX_ID, "id") == MAX_ID and is_id(MAX_ID) and not is_id(MAX_ID + 1) and not is_id(True)
    with pytest.raises(Invalid):
        parse_id(2**40, "id")
    assert ids_from(["3", "²", "x", str(2**40), "0", "5"]) == [3, 5]


def test_parse_float_and_decimal_refuse_huge_and_non_finite():
    assert parse_float("12.5", "x", lo=-90, hi=90) == 12.5 and parse_float(12, "x", lo=-90, hi=90) == 12.0
    for raw in (HUGE, "1e400", "nan", "inf", "١٢", "1" * 400, float("nan"), True, "12,5"):
        with pytest.raises(Invalid):
            parse_float(raw, "x", lo=-90, hi=90)
    assert parse_decimal("12.346", "c", lo=Decimal(0), hi=Decimal(100)) == Decimal("12.35")
    for raw in ("99.999", HUGE, "1e9", "NaN", "-1", 1e308):
        with pytest.raises(Invalid):
            parse_decimal(raw, "c", lo=Decimal(0), hi=Decimal(100))


def test_dates_and_times_stay_within_2000_to_2100():
    assert parse_date("2026-03-02", "d") == date(2026, 3, 2)
    assert parse_datetime("2026-03-02T09:00:00+08:00", "t") == datetime(2026, 3, 2, 1, tzinfo=timezone.utc)
    assert parse_datetime("2026-03-02T01:00:00Z", "t") == datetime(2026, 3, 2, 1, tzinfo=timezone.utc)
    for raw in ("0001-01-01", "9999-12-31", "1999-12-31", "2026-02-30", "٢٠٢٦-٠٣-٠٢", "2026-3-2"):
        with pytest.raises(Invalid):
            parse_date(raw, "d")
    for raw in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-03-02T01:00:00", "soon", HUGE):
        with pytest.raises(Invalid):
            parse_datetime(raw, "t")


def test_text_and_json_limits():
    assert bad_text({"a": ["x", {"b": "a\x00"}]}) == "nul"
    assert bad_text(["ok", "\ud800"]) == "surrogate" and bad_text({"k": [1, 2.5, None, "汉"]}) is None
    assert json_too_deep(b"[" * 33 + b"]" * 33) and not json_too_deep(b"[" * 32 + b"]" * 32)
    assert not json_too_deep('["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["]')  # brackets inside a string
    for raw in ("[" * 100_000 + "]" * 100_000, "[" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000, "NaN",
                "[1e400]", '{"x": -Infinity}'):
        with pytest.raises(ValueError):
            loads_json(raw)
    assert loads_json('{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}


# --------------------------------------------------------------------------- over HTTP

@pytest.fixture
def desk(app, make_station, make_user, make_customer, login, client):
    """A station, a customer, categories; the client logged in as a dispatcher."""
    from dispatch.orders import services
    make_station("S01", lon=114.0, lat=22.5)
    customer = make_customer(lat=22.505, lon=114.005)
    with app.app_context():
        services.ensure_reference_data()
        db.session.commit()
    login(make_user("dispatcher"))
    return customer


def _post_big(client, url: str, fields: dict):
    """A multipart POST encoded in memory (the test client would spool a big body to a file it never closes)."""
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import stream_encode_multipart
    fields = {k: FileStorage(v[0], filename=v[1]) if isinstance(v, tuple) else v for k, v in fields.items()}
    stream, _length, boundary = stream_encode_multipart(fields, use_tempfile=False)
    return client.post(url, data=stream.getvalue(), content_type=f"multipart/form-data; boundary={boundary}")


def _count(app, table: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.text(f"SELECT count(*) FROM {table}"))


def _order(customer, **extra):
    return {"customer_id": customer.id, "category": "BB-SLOW", "description": "slow", **extra}


def test_huge_json_numbers_are_refused(app, client, desk):
    for extra in ({"lat": HUGE, "lon": 114.0}, {"lat": 22.5, "lon": -HUGE}, {"customer_id": 2**40},
                  {"customer_id": HUGE}):
        resp = client.post("/api/v1/orders", json=_order(desk, **extra))
        assert resp.status_code == 422, (extra, resp.status_code)
        assert resp.get_json()["error"]["fields"]
    raw = json.dumps(_order(desk)).replace('"slow"', '"slow", "lat": 1e400, "lon": 1')
    resp = client.post("/api/v1/orders", data=raw, content_type="application/json")
    assert resp.status_code == 400  # 1e400 is no JSON number we read (it would be inf)
    assert _count(app, "repair_orders") == 0


def test_part_quantity_of_400_digits_is_refused(ctx):
    from dispatch.orders.services.orders import _validated_resolution
    with pytest.raises(Invalid) as err:
        _validated_resolution({"resolution_code": "FIXED", "parts": [{"sku": "CONN-F", "qty": HUGE}]})
    assert "parts.0" in err.value.fields


def test_dates_out_of_range_are_refused(app, client, desk, make_user, login):
    for when in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        resp = client.post("/api/v1/orders", json=_order(desk, reported_at=when))
        assert resp.status_code == 422 and "reported_at" in resp.get_json()["error"]["fields"]
        csv = f"account_no,category,description,reported_at\n{desk.account_no},BB-SLOW,slow,{when}\n"
        resp = client.post("/dispatch/orders/import", data={"file": (io.BytesIO(csv.encode()), "o.csv")},
                           content_type="multipart/form-data")
        assert resp.status_code == 422
    for query in ("from=0001-01-01", "to=9999-12-31", "from=2026-01-01&to=9999-12-31"):
        assert client.get(f"/api/v1/reports/kpis?{query}").status_code == 422
        assert client.get(f"/reports/?{query}").status_code == 422
    assert _count(app, "repair_orders") == 0
    login(make_user("admin"))
    for query in ("since=0001-01-01", "until=9999-12-31"):
        assert client.get(f"/admin/audit?{query}").status_code == 422


def test_exotic_digits_are_refused_not_500(app, client, desk, make_user, login):
    for value in ("²", "--5", "1" * 5000):
        resp = client.post("/dispatch/orders/new", data={"customer_id": value, "category": "BB-SLOW",
                                                          "description": "x"})
        assert resp.status_code == 422, value
        assert client.get(f"/reports/orders?metric=breach&level={value}").status_code == 422
        assert client.get(f"/api/v1/orders?technician={value}").status_code in (404, 422)
        assert client.get(f"/dispatch/?page={value}").status_code == 422
    assert _count(app, "repair_orders") == 0
    keeper = make_user("stockkeeper")
    login(keeper)
    for value in ("²", "--5", "1" * 5000):
        resp = client.post("/inventory/items", data={"sku": "CONN-F", "name": "F", "category": "connector",
                                                     "reorder_point": value})
        assert resp.status_code == 422, value
        resp = client.post("/api/v1/stock/moves", json={"type": "receive", "sku": "CONN-F", "qty": value,
                                                        "to": "S01"})
        assert resp.status_code in (404, 422), value
    assert _count(app, "inventory_items") == 0


def test_a_station_that_is_not_an_id_on_the_user_form(app, client, make_user, login):
    login(make_user("admin"))
    for station in ("abc", "²", str(2**40)):
        resp = client.post("/admin/users/new", data={"username": "newbie", "role": "dispatcher",
                                                     "password": "password123", "station": station})
        assert resp.status_code == 422, station
    with app.app_context():
        from core.auth import find_user
        assert find_user("newbie") is None


def test_deeply_nested_json_is_refused(app, client, desk, make_user, login):
    for body in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        resp = client.post("/api/v1/orders", data=body, content_type="application/json")
        assert resp.status_code == 400 and "nested" in resp.get_json()["error"]["message"]
    login(make_user("admin"))
    resp = client.post("/admin/stations/new", data={"code": "S09", "name": "N", "lat": "22.5", "lon": "114",
                                                    "coverage": "[" * 100_000 + "]" * 100_000})
    assert resp.status_code == 422
    assert _count(app, "stations") == 1


def test_lone_surrogates_are_refused(app, client, desk):
    resp = client.post("/api/v1/orders", data=json.dumps(_order(desk, description="bad \ud800 text")),
                       content_type="application/json")
    assert resp.status_code == 400 and "surrogate" in resp.get_json()["error"]["message"]
    # in a form, undecodable bytes stay percent-escaped text: refused as a customer id, no 500
    resp = client.post("/dispatch/orders/new", data="customer_id=%ED%A0%80&category=BB-SLOW&description=x",
                       content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 422
    assert _count(app, "repair_orders") == 0


def test_ids_beyond_the_columns_range(app, client, desk):
    assert client.get(f"/api/v1/orders?technician={'9' * 25}").status_code == 422
    assert client.get(f"/api/v1/orders?technician={2**63}").status_code == 422
    assert client.get("/api/v1/orders/99999999999999999999").status_code == 404
    assert client.get(f"/api/v1/orders/{2**31}").status_code == 404
    assert client.get(f"/dispatch/customers/{2**40}").status_code == 404
    assert client.get(f"/dispatch/?page={10**20}").status_code == 422
    assert client.get(f"/api/v1/orders?page={10**20}").status_code == 422


def test_nul_in_an_uploaded_csv_is_refused(app, client, make_user, login):
    login(make_user("admin"))
    csv = b"account_no,name,phone\n8800000001,A\x00B,13800000001\n"
    resp = client.post("/admin/customers/import", data={"file": (io.BytesIO(csv), "c.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400
    assert _count(app, "customers") == 0


def test_uploads_may_be_16_mb_json_only_2(app, client, make_user, login):
    login(make_user("admin"))
    rows = "".join(f"88{n:08d},Customer {n},138{n:08d},{'x' * 40}\n" for n in range(50_000))
    data = ("account_no,name,phone,address\n" + rows).encode()
    assert 3 * 1024 * 1024 < len(data) < app.config["UPLOAD_MAX_BYTES"]
    resp = _post_big(client, "/admin/customers/import", {"file": (io.BytesIO(data), "c.csv")})
    assert resp.status_code == 200, resp.status_code
    assert _count(app, "customers") == 50_000
    too_big = b"x" * (app.config["UPLOAD_MAX_BYTES"] + 1)
    resp = _post_big(client, "/admin/customers/import", {"file": (io.BytesIO(too_big), "c.csv")})
    assert resp.status_code == 413
    resp = client.post("/admin/customers/new", data={"name": "x" * (3 * 1024 * 1024)})
    assert resp.status_code == 413  # other forms keep the 2 MB limit


def test_a_5_mb_photo_is_not_cut_at_2_mb(app, client, make_station, make_user, login):
    from core.auth import get_user
    from dispatch.orders import services
    from field.views import MAX_PHOTO_BYTES

    station = make_station("S01", lon=114.0, lat=22.5)
    tech = make_user("technician", station=station, skills=["broadband"])
    disp = make_user("dispatcher")
    with app.app_context():
        services.ensure_reference_data()
        services.set_duty(get_user(tech.id), on_duty=True)
        from core import customers
        c = customers.create_customer(account_no="8800000001", name="C", phone="13800000001", lat=22.505,
                                      lon=114.005)
        order = services.create_order({"customer_id": c.id, "category": "BB-SLOW", "description": "x"},
                                      get_user(disp.id))
        for action in ("accept", "depart", "arrive"):
            services.transition(order, action, get_user(tech.id))
        db.session.commit()
        order_id = order.id
    login(tech)
    photo = b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_PHOTO_BYTES - 100)
    resp = _post_big(client, f"/field/jobs/{order_id}/resolve", {"resolution_code": "FIXED",
                                                                 "photos": (io.BytesIO(photo), "p.png")})
    assert resp.status_code == 302, resp.status_code  # resolved, photo and all (NUL bytes are fine in a photo)
