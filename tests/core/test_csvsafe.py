"""CSV exports defuse text a spreadsheet would run as a formula (OWASP), and read back unchanged."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import csvsafe


@pytest.mark.parametrize("text", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx", "-", "=",
                                  "=HYPERLINK(\"http://x\",\"y\")"])
def test_formula_text_gets_a_quote_and_comes_back(text):
    assert csvsafe.safe_cell(text) == "'" + text
    assert csvsafe.plain_cell(csvsafe.safe_cell(text)) == text


@pytest.mark.parametrize("value", [-5, 0, -0.5, Decimal("-1.20"), None, "", "-5", "+8613800138000", "-1.5e3",
                                   "Wang Fang", "a=b", "'quoted", "'plain text"])
def test_numbers_and_harmless_text_are_written_as_they_are(value):
    assert csvsafe.safe_cell(value) == value
    assert csvsafe.plain_cell(value) == value  # a quote we did not add is kept


def test_writer_quotes_text_cells_only():
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow(["sku", "qty"])
    w.writerows([["=1+1", -5], ["@x", Decimal("2.50")]])
    assert out.getvalue().splitlines() == ["sku,qty", "'=1+1,-5", "'@x,2.50"]
    rows = [csvsafe.plain_row(r) for r in csv.DictReader(io.StringIO(out.getvalue()))]
    assert rows == [{"sku": "=1+1", "qty": "-5"}, {"sku": "@x", "qty": "2.50"}]


# --- the files people download: UTF-8 with a BOM, so Excel reads Chinese names right -----------------

def test_csv_response_is_utf8_with_a_bom_as_an_attachment(app):
    with app.test_request_context():
        resp = csvsafe.csv_response("name\n王芳\n", "customers.csv")
        assert resp.content_type == "text/csv; charset=utf-8"
        assert resp.data == b"\xef\xbb\xbf" + "name\n王芳\n".encode()
        assert resp.headers["Content-Disposition"] == 'attachment; filename="customers.csv"'
        assert csvsafe.csv_response("\ufeffx\n", "a.csv").data == b"\xef\xbb\xbfx\n"  # one BOM, not two
        odd = csvsafe.csv_response("x", 'a"b\r\nSet-Cookie: x;.csv').headers["Content-Disposition"]
        assert odd == 'attachment; filename="a-b--Set-Cookie--x-.csv"'


def test_read_text_drops_the_bom_of_bytes_and_text():
    assert csvsafe.read_text(b"\xef\xbb\xbfsku\n") == "sku\n"
    assert csvsafe.read_text("\ufeffsku\n") == "sku\n"
    assert csvsafe.read_text("sku\n") == "sku\n"
    with pytest.raises(UnicodeDecodeError):
        csvsafe.read_text(b"\xff\xfe")


def test_every_export_starts_with_a_bom(client, make_user, make_customer, login):
    make_customer(name="王芳")
    login(make_user("admin"))
    for url in ("/admin/customers/export.csv", "/inventory/items.csv", "/inventory/levels.csv",
                "/inventory/moves.csv", "/reports/export.csv"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert resp.content_type == "text/csv; charset=utf-8" and resp.data.startswith(b"\xef\xbb\xbf"), url
        assert resp.headers["Content-Disposition"].startswith("attachment; filename="), url
    assert "王芳".encode() in client.get("/admin/customers/export.csv").data


def test_an_exported_customer_file_imports_back_with_its_bom(app, client, make_user, make_customer, login):
    from core.customers import Customer
    from core.extensions import db

    make_customer(account_no="8800000077", name="=王芳+1", address="深圳市福田区")
    login(make_user("admin"))
    exported = client.get("/admin/customers/export.csv").data
    assert exported.startswith(b"\xef\xbb\xbf")
    with app.app_context():
        db.session.execute(sa.delete(Customer))
        db.session.commit()
    resp = client.post("/admin/customers/import", data={"file": (io.BytesIO(exported), "customers.csv")},
                       content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_data(as_text=True)[-800:]
    with app.app_context():
        back = db.session.scalar(sa.select(Customer).where(Customer.account_no == "8800000077"))
        assert (back.name, back.address) == ("=王芳+1", "深圳市福田区")
