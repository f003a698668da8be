"""Customer CSV import in the browser: progress shown, bad rows named, nothing half-imported."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.customers import Customer
from core.extensions import db
from e2e.conftest import log_in

pytestmark = pytest.mark.e2e

CSV = ("account_no,name,phone,address,lat,lon,district,segment,services\n"
       "8800000001,Wang Fang,13800138000,1 Shennan Rd,22.54,114.05,Futian,residential,digital_tv\n"
       "8800000002,Li Na,not-a-phone,2 Binhe Rd,22.53,114.06,Futian,vip,broadband\n")


def test_import_reports_bad_rows_then_imports_the_good_ones(new_page, base_url, make_user, app, tmp_path):
    admin = make_user("admin")
    path = tmp_path / "customers.csv"
    path.write_text(CSV)
    page, watch = new_page()
    log_in(page, base_url, admin.username)
    page.goto(f"{base_url}/admin/customers")
    page.click("summary")
    page.set_input_files("input[type=file]", str(path))
    page.click("form[data-progress] button")
    result = page.get_by_test_id("import-result")
    assert "Nothing was imported" in result.inner_text()
    assert "<td>3</td>" in page.content()  # the bad row's line number
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0
    page.goto(f"{base_url}/admin/customers")
    page.click("summary")
    page.set_input_files("input[type=file]", str(path))
    page.check("input[name=only_good]")
    page.click("form[data-progress] button")
    assert "1 of 2 rows imported" in page.get_by_test_id("import-result").inner_text()
    with app.app_context():
        assert db.session.scalar(sa.select(Customer.account_no)) == "8800000001"
    assert not watch.errors, watch.errors
