"""The stock keepers' pages."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from core.auth import User
from core.extensions import db
from inventory import services
from inventory.models import Item, StockMove


@pytest.fixture
def shop(app, make_station, make_user, make_customer):
    s1, s2 = make_station("S01"), make_station("S02", lon=114.1)
    people = {"keeper": make_user("stockkeeper", username="keeper", station=s1),
              "tech": make_user("technician", username="tech", station=s1),
              "tech2": make_user("technician", username="tech2", station=s2),
              "admin": make_user("admin", username="boss"), "customer": make_customer()}
    with app.app_context():
        boss = db.session.get(User, people["admin"].id)
        services.save_item(sku="CON-F", name="F connector", category="connector", reorder_point=10,
                           reorder_qty=40, van_reorder_point=3, actor=boss)
        services.save_item(sku="STB-1", name="Set-top box", category="set_top_box", is_serialized=True, actor=boss)
        services.ensure_locations()
        services.record_move("receive", sku="CON-F", qty=12, target="S01", actor=boss)
        services.record_move("receive", sku="CON-F", qty=1, target="VAN-TECH", actor=boss)
        services.record_move("receive", sku="CON-F", qty=9, target="S02", actor=boss)
        db.session.commit()
    return people


def count_moves(app):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(StockMove))


def test_stock_page_highlights_low_and_suggests(client, shop, login):
    login(shop["keeper"])
    page = client.get("/inventory/").get_data(as_text=True)
    assert "VAN-TECH" in page and "S01" in page and "S02" not in page  # own station only
    assert page.count('data-low="1"') == 1  # the van: 1 < 3
    assert "Below the reorder point: 1" in page
    assert "Transfer 2 from S01" in page  # needs 3, the store spares what is above its own reorder point
    page = client.get("/inventory/?low=1&location=S01").get_data(as_text=True)
    assert "No stock here yet." in page


def test_admin_filters_by_station_and_exports_csv(client, shop, login):
    login(shop["admin"])
    page = client.get("/inventory/?station=S02").get_data(as_text=True)
    assert "S02" in page and "VAN-TECH<" not in page and "Order 40 pcs" in page
    resp = client.get("/inventory/levels.csv?sku=CON-F")
    assert resp.content_type == "text/csv; charset=utf-8" and resp.data.startswith(b"\xef\xbb\xbf")  # BOM: Excel
    csv_text = resp.get_data(as_text=True).removeprefix("\ufeff")
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("location,kind,station,sku") and len(lines) == 4
    assert "S02,store,S02,CON-F,F connector,9,10,40,yes" in csv_text


def test_receive_serials_by_scanner_and_transfer(app, client, shop, login):
    login(shop["keeper"])
    assert client.get("/inventory/moves/new?type=receive").status_code == 200
    resp = client.post("/inventory/moves/new", data={"type": "receive", "sku": "STB-1", "to": "S01",
                                                     "serials": "BOX1\r\nBOX2\r\n\r\nbox3\r\n"})
    assert resp.status_code == 302
    with app.app_context():
        assert services.level_of(services.location_by_code("S01"), services.item_by_sku("STB-1")) == 3
    resp = client.post("/inventory/moves/new", data={"type": "transfer", "from": "S01", "to": "VAN-TECH",
                                                     "serials": "BOX1\nBOX2"})
    assert resp.status_code == 302
    assert client.get("/api/v1/units/BOX2").get_json()["location"] == "VAN-TECH"
    before = count_moves(app)
    # BOX1 is in the van now: the whole batch is refused
    resp = client.post("/inventory/moves/new", data={"type": "transfer", "from": "S01", "to": "VAN-TECH",
                                                     "serials": "BOX3\nBOX1"})
    assert resp.status_code == 409 and "BOX1" in resp.get_data(as_text=True)
    assert count_moves(app) == before
    resp = client.post("/inventory/moves/new", data={"type": "transfer", "sku": "CON-F", "qty": "0", "from": "S01",
                                                     "to": "VAN-TECH"})
    assert resp.status_code == 422 and count_moves(app) == before
    resp = client.post("/inventory/moves/new", data={"type": "receive", "sku": "STB-1", "to": "S01",
                                                     "serials": "NEW1\nNEW1"})
    assert resp.status_code == 422 and count_moves(app) == before


def test_repair_and_scrap_pages(client, shop, login):
    login(shop["keeper"])
    client.post("/inventory/moves/new", data={"type": "receive", "sku": "STB-1", "to": "S01", "serials": "R1"})
    assert client.post("/inventory/moves/new", data={"type": "repair_out", "from": "S01",
                                                     "serials": "R1"}).status_code == 302
    assert client.get("/api/v1/units/R1").get_json()["status"] == "in_repair"
    assert client.post("/inventory/moves/new", data={"type": "repair_in", "to": "S01",
                                                     "serials": "R1"}).status_code == 302
    assert client.post("/inventory/moves/new", data={"type": "scrap", "from": "S01", "serials": "R1",
                                                     "reason": "water damage"}).status_code == 302
    assert client.get("/api/v1/units/R1").get_json()["status"] == "scrapped"


def test_cycle_count_page(app, client, shop, login):
    login(shop["keeper"])
    page = client.get("/inventory/count?location=S01").get_data(as_text=True)
    assert 'name="count-CON-F"' in page and "STB-1" not in page.split("<table>")[1].split("</table>")[0]
    resp = client.post("/inventory/count", data={"location": "S01", "count-CON-F": "10", "reason": "March count"})
    assert resp.status_code == 200 and "−2" in resp.get_data(as_text=True)
    with app.app_context():
        assert services.level_of(services.location_by_code("S01"), services.item_by_sku("CON-F")) == 10
    resp = client.post("/inventory/count", data={"location": "S01", "count-CON-F": "8", "reason": ""})
    assert resp.status_code == 422


def test_counted_levels_imported_from_the_export(app, client, shop, login):
    login(shop["keeper"])
    exported = client.get("/inventory/levels.csv?location=S01").get_data(as_text=True)
    edited = exported.replace("S01,store,S01,CON-F,F connector,12,", "S01,store,S01,CON-F,F connector,15,")
    data = {"file": (io.BytesIO(edited.encode()), "count.csv"), "reason": "year-end count"}
    assert client.post("/inventory/count/import", data=data, content_type="multipart/form-data").status_code == 302
    with app.app_context():
        assert services.level_of(services.location_by_code("S01"), services.item_by_sku("CON-F")) == 15
    for bad in (b"location,sku,qty\nS01,CON-F,1\nS01,NOPE,2\n", b"location,sku,qty\nVAN-TECH2,CON-F,1\n",
                b"location,sku,qty\nS01,CON-F,1\nS01,CON-F,2\n", b"where,what\n", b"\xff\xfe"):
        data = {"file": (io.BytesIO(bad), "count.csv"), "reason": "x"}
        client.post("/inventory/count/import", data=data, content_type="multipart/form-data")
    with app.app_context():
        assert services.level_of(services.location_by_code("S01"), services.item_by_sku("CON-F")) == 15
        assert services.level_of(services.location_by_code("VAN-TECH2"), services.item_by_sku("CON-F")) == 0


def test_items_catalogue_create_import_export(app, client, shop, login):
    login(shop["keeper"])
    resp = client.post("/inventory/items", data={"sku": "rmt-9", "name": "Remote 9", "category": "remote",
                                                  "unit_cost": "12.50", "reorder_point": "4"})
    assert resp.status_code == 302
    resp = client.post("/inventory/items", data={"sku": "BAD SKU", "name": "x", "category": "remote"})
    assert resp.status_code == 422
    exported = client.get("/inventory/items.csv").get_data(as_text=True)
    assert "RMT-9,Remote 9,remote,pcs,no,12.50,4,0,0" in exported
    data = {"file": (io.BytesIO(b"sku,name,category,serialized\nONT-2,ONT two,optical_terminal,yes\n"), "i.csv")}
    assert client.post("/inventory/items/import", data=data, content_type="multipart/form-data").status_code == 302
    bad = {"file": (io.BytesIO(b"sku,name,category\nX-1,x,unknown\n"), "i.csv")}
    client.post("/inventory/items/import", data=bad, content_type="multipart/form-data")
    with app.app_context():
        assert db.session.scalar(sa.select(Item).where(Item.sku == "ONT-2")).is_serialized
        assert db.session.scalar(sa.select(Item).where(Item.sku == "X-1")) is None
    assert "Remote 9" in client.get("/inventory/items?q=rmt").get_data(as_text=True)


def test_unit_page_loans_and_report(app, client, shop, login, clock):
    with app.app_context():
        boss = db.session.get(User, shop["admin"].id)
        services.record_move("receive", sku="STB-1", serial="LN-1", target="S01", actor=boss)
        services.lend_loaner(55, shop["customer"].id, "LN-1", boss)
        services.issue_parts_for_order(56, db.session.get(User, shop["tech"].id), [{"sku": "CON-F", "qty": 1}])
        db.session.commit()
    login(shop["keeper"])
    assert client.get("/inventory/units?serial=ln-1").status_code == 302
    page = client.get("/inventory/units/LN-1").get_data(as_text=True)
    assert "On loan" in page and "55" in page and shop["customer"].account_no in page
    missing = client.get("/inventory/units?serial=NOPE")
    assert missing.status_code == 404 and "No unit with serial NOPE." in missing.get_data(as_text=True)
    assert client.get("/inventory/units/NOPE").status_code == 404
    assert "LN-1" in client.get("/inventory/loans").get_data(as_text=True)
    assert "LN-1" not in client.get("/inventory/loans?overdue=1").get_data(as_text=True)
    clock.advance(days=20)
    login(shop["keeper"])  # a login session lasts 12 hours on the server's clock
    assert 'data-overdue="1"' in client.get("/inventory/loans?overdue=1").get_data(as_text=True)
    report = client.get("/inventory/report?group_by=technician").get_data(as_text=True)
    assert "<td>tech</td>" in report
    assert client.get("/inventory/report?from=2026-99-01").status_code == 422
    assert client.get("/inventory/report?to=9999-12-31").status_code == 422
    day = client.get("/inventory/report?group_by=technician&from=2026-03-02&to=2026-03-02").get_data(as_text=True)
    assert "<td>tech</td>" in day  # the last day counts whole
    before = client.get("/inventory/report?group_by=technician&from=2026-02-01&to=2026-03-01").get_data(as_text=True)
    assert "<td>tech</td>" not in before


def test_lend_and_take_back_on_the_loans_page(app, client, shop, login):
    login(shop["keeper"])
    client.post("/inventory/moves/new", data={"type": "receive", "sku": "STB-1", "to": "S01", "serials": "LOAN-9"})
    acc = shop["customer"].account_no
    assert client.post("/inventory/loans", data={"serial": "LOAN-9", "account_no": "nope"}).status_code == 302
    assert client.get("/api/v1/units/LOAN-9").get_json()["status"] == "in_store"
    resp = client.post("/inventory/loans", data={"serial": "LOAN-9", "account_no": acc, "order": "12"})
    assert resp.status_code == 302
    unit = client.get("/api/v1/units/LOAN-9").get_json()
    assert unit["status"] == "on_loan" and unit["history"][-1]["order"] == 12
    with app.app_context():
        loan_id = db.session.scalar(sa.select(services.Loan.id))
    assert client.post(f"/inventory/loans/{loan_id}/return").status_code == 302
    assert client.get("/api/v1/units/LOAN-9").get_json()["location"] == "S01"
    assert client.post("/inventory/loans/999999/return").status_code == 404


def test_technician_sees_own_van(client, shop, login):
    login(shop["tech"])
    page = client.get("/inventory/").get_data(as_text=True)
    assert "VAN-TECH<" in page and "VAN-TECH2" not in page and "S02" not in page
    assert client.get("/inventory/moves/new").status_code == 403


def test_pages_in_chinese(client, shop, login):
    login(shop["keeper"])
    client.post("/language/zh_CN")
    for url in ("/inventory/", "/inventory/moves/new?type=transfer", "/inventory/count?location=S01",
                "/inventory/items", "/inventory/loans", "/inventory/report"):
        page = client.get(url).get_data(as_text=True)
        assert "库存" in page, url
        assert "Cycle count" not in page and "Parts consumption" not in page, url


def test_exports_defuse_formulas_and_the_catalogue_reimports_unchanged(app, client, shop, login):
    evil = "=HYPERLINK(\"http://evil.example\",\"Click\")"
    with app.app_context():
        boss = db.session.get(User, shop["admin"].id)
        services.save_item(sku="EVIL-1", name=evil, category="connector", actor=boss)
        services.save_item(sku="EVIL-2", name="@SUM(1+1)", category="connector", actor=boss)
        services.record_move("receive", sku="EVIL-1", qty=2, target="S01", actor=boss)
        db.session.commit()
    login(shop["keeper"])
    items = client.get("/inventory/items.csv").get_data(as_text=True)
    assert "EVIL-1,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"Click\"\")\",connector" in items
    assert "EVIL-2,'@SUM(1+1),connector" in items and "\n=" not in items and ",=" not in items
    levels = client.get("/inventory/levels.csv?sku=EVIL-1").get_data(as_text=True)
    assert ",\"'=HYPERLINK(" in levels and ",2,0,0," in levels  # the quantity is still a number
    data = {"file": (io.BytesIO(items.encode()), "items.csv")}
    assert client.post("/inventory/items/import", data=data, content_type="multipart/form-data").status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(Item.name).where(Item.sku == "EVIL-1")) == evil
        assert db.session.scalar(sa.select(Item.name).where(Item.sku == "EVIL-2")) == "@SUM(1+1)"


def test_item_search_takes_wildcards_literally(app, client, shop, login):
    login(shop["keeper"])
    with app.app_context():
        assert [i.sku for i in db.session.scalars(services.items_query("con-f"))] == ["CON-F"]
        for probe in ("%", "_", "con_f", "s_t"):
            assert list(db.session.scalars(services.items_query(probe))) == [], probe
    assert "F connector" not in client.get("/inventory/items?q=%25").get_data(as_text=True)
