"""The ledger and the serial units as lists: filters, paging, station scope, order numbers, CSV."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from core.auth import User
from core.db import set_clock
from core.extensions import db
from inventory import services
from inventory.models import Location, SerialUnit
from inventory.services import browse


@pytest.fixture
def ledger(app, make_station, make_user, make_customer):
    """S01 (keeper, tech, sup) and S02 (keeper2, tech2, sup2); a repair order at S01 whose parts
    came out of tech's van; serial boxes at both stations; moves on 2026-03-01 … 03."""
    from dispatch.orders import services as orders

    s1, s2 = make_station("S01"), make_station("S02", lon=114.1)
    people = {"keeper": make_user("stockkeeper", username="keeper", station=s1, full_name="Li Na"),
              "keeper2": make_user("stockkeeper", username="keeper2", station=s2),
              "sup": make_user("supervisor", username="sup", station=s1),
              "sup2": make_user("supervisor", username="sup2", station=s2),
              "tech": make_user("technician", username="tech", station=s1, full_name="Wang Wei"),
              "tech2": make_user("technician", username="tech2", station=s2),
              "admin": make_user("admin", username="boss", full_name="The Boss"),
              "disp": make_user("dispatcher", username="disp"),
              "customer": make_customer(lat=22.505, lon=114.005)}
    with app.app_context():
        boss = db.session.get(User, people["admin"].id)
        orders.ensure_reference_data()
        try:
            set_clock(lambda: datetime(2026, 3, 1, 2, 0, tzinfo=timezone.utc))
            services.save_item(sku="CON-F", name="F connector", category="connector", actor=boss)
            services.save_item(sku="STB-1", name="机顶盒 4K", category="set_top_box", is_serialized=True, actor=boss)
            services.ensure_locations()
            services.record_move("receive", sku="CON-F", qty=50, target="S01", actor=boss)
            services.record_move("receive", sku="CON-F", qty=30, target="S02", actor=boss)
            services.receive_batch("STB-1", "S01", boss, serials=["BOX_1", "BOX%2", "BOXA3"])
            services.receive_batch("STB-1", "S02", boss, serials=["OTHER-1"])
            set_clock(lambda: datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc))
            keeper = db.session.get(User, people["keeper"].id)
            services.record_move("transfer", sku="CON-F", qty=5, source="S01", target="VAN-TECH", actor=keeper)
            services.record_move("transfer", serial="BOXA3", source="S01", target="VAN-TECH", actor=keeper)
            order = orders.create_order({"customer_id": people["customer"].id, "category": "DTV-MOSAIC",
                                         "description": "No picture", "channel": "web",
                                         "lat": 22.505, "lon": 114.005}, db.session.get(User, people["disp"].id))
            set_clock(lambda: datetime(2026, 3, 3, 2, 0, tzinfo=timezone.utc))
            services.issue_parts_for_order(order.id, db.session.get(User, people["tech"].id),
                                           [{"sku": "CON-F", "qty": 2}], customer_id=people["customer"].id)
            people["order_id"], people["order_number"] = order.id, order.number
            db.session.commit()
        finally:
            set_clock(None)
    return people


def location_id(app, code: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Location.id).where(Location.code == code))


def rows(page: str) -> list[str]:
    """The moves or units table's rows, as text without tags."""
    body = page.split('<table data-testid="', 1)[1].split("</table>")[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", r.split(">", 1)[1])).strip() for r in body.split("<tr")[2:]]




def test_keeper_sees_their_stations_moves_newest_first_with_numbers_and_names(client, ledger, login):
    login(ledger["keeper"])
    resp = client.get("/inventory/moves")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    lines = rows(page)
    # S01's: the issue on the order, 2 transfers, 3 boxes and 50 connectors received; nothing of S02
    assert len(lines) == 7 and "7 moves" in page
    assert lines[0].startswith("2026-03-03") and "Issue" in lines[0] and ledger["order_number"] in lines[0]
    assert "Wang Wei" in lines[0] and "VAN-TECH" in lines[0]
    assert "Li Na" in lines[1] and "The Boss" in lines[-1]
    assert "OTHER-1" not in page and "S02" not in page
    # a keeper may not open the order page: the number is shown, not linked
    assert ledger["order_number"] in page and f"/dispatch/orders/{ledger['order_id']}" not in page
    assert f">{ledger['order_id']}<" not in page  # never the internal id


def test_supervisor_sees_the_order_linked_and_admin_sees_every_station(client, ledger, login):
    login(ledger["sup"])
    page = client.get("/inventory/moves").get_data(as_text=True)
    assert f'href="/dispatch/orders/{ledger["order_id"]}">{ledger["order_number"]}</a>' in page
    assert "OTHER-1" not in page
    login(ledger["sup2"])
    page = client.get("/inventory/moves").get_data(as_text=True)
    assert len(rows(page)) == 2 and "OTHER-1" in page and ledger["order_number"] not in page
    login(ledger["admin"])
    assert len(rows(client.get("/inventory/moves").get_data(as_text=True))) == 9


def test_filters_by_place_item_type_days_and_order_number(app, client, ledger, login):
    login(ledger["keeper"])
    van = location_id(app, "VAN-TECH")
    page = client.get(f"/inventory/moves?location={van}").get_data(as_text=True)
    assert len(rows(page)) == 3  # two transfers in, the issue out
    assert f'<option value="{van}" selected>' in page
    with app.app_context():
        stb = services.item_by_sku("STB-1").id
    assert len(rows(client.get(f"/inventory/moves?item={stb}").get_data(as_text=True))) == 4
    assert len(rows(client.get("/inventory/moves?type=transfer").get_data(as_text=True))) == 2
    # days are the operator's (Asia/Shanghai): 02:00 UTC is 10:00 the same day; both ends count whole
    assert len(rows(client.get("/inventory/moves?from=2026-03-02&to=2026-03-02").get_data(as_text=True))) == 2
    assert len(rows(client.get("/inventory/moves?from=2026-03-03").get_data(as_text=True))) == 1
    number = ledger["order_number"]
    only = rows(client.get(f"/inventory/moves?order={number.lower()}").get_data(as_text=True))
    assert len(only) == 1 and number in only[0]
    page = client.get("/inventory/moves?order=RO-20000101-0001").get_data(as_text=True)
    assert "No moves match these filters." in page
    # combined, and the CSV export of the same list
    resp = client.get(f"/inventory/moves.csv?location={van}&type=transfer")
    assert resp.status_code == 200 and resp.content_type == "text/csv; charset=utf-8"
    assert resp.data.startswith(b"\xef\xbb\xbf")
    assert 'filename="stock-moves.csv"' in resp.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(resp.data.decode("utf-8-sig"))))
    assert [(r["type"], r["to"], r["serial"], r["by"]) for r in table] == [
        ("transfer", "VAN-TECH", "BOXA3", "Li Na"), ("transfer", "VAN-TECH", "", "Li Na")]
    issue = list(csv.DictReader(io.StringIO(client.get(f"/inventory/moves.csv?order={number}").data
                                            .decode("utf-8-sig"))))
    assert issue[0]["order"] == number and issue[0]["at"].startswith("2026-03-03T10:00:00+08:00")


def test_chinese_names_reach_excel_through_the_bom(client, ledger, login):
    login(ledger["keeper"])
    data = client.get("/inventory/moves.csv?type=receive").data
    assert data.startswith("\ufeffat,type,".encode()) and "机顶盒 4K".encode() in data


def test_paging_keeps_the_filters(app, client, ledger, login):
    with app.app_context():
        keeper = db.session.get(User, ledger["keeper"].id)
        services.record_move("receive", sku="CON-F", qty=100, target="S01", actor=keeper)
        for _ in range(55):
            services.record_move("transfer", sku="CON-F", qty=1, source="S01", target="VAN-TECH", actor=keeper)
        db.session.commit()
    login(ledger["keeper"])
    first = client.get("/inventory/moves?type=transfer").get_data(as_text=True)
    assert len(rows(first)) == 50 and "Page 1 of 2" in first and "57 moves" in first
    nxt = re.search(r'href="([^"]+)">Next', first).group(1).replace("&amp;", "&")
    assert "type=transfer" in nxt and "page=2" in nxt
    second = client.get(nxt).get_data(as_text=True)
    assert len(rows(second)) == 7 and "Page 2 of 2" in second
    prev = re.search(r'href="([^"]+)">&larr; Previous', second).group(1).replace("&amp;", "&")
    assert "type=transfer" in prev and "page=1" in prev
    assert len(rows(client.get("/inventory/moves?page=abc").get_data(as_text=True))) == 50  # page 1
    assert "Page 2 of 2" in client.get("/inventory/moves?type=transfer&page=99").get_data(as_text=True)  # the last


def test_the_page_is_a_few_queries_whatever_its_rows(app, client, ledger, login, count_queries):
    login(ledger["admin"])
    with count_queries() as few:
        client.get("/inventory/moves")
    with app.app_context():
        boss = db.session.get(User, ledger["admin"].id)
        services.receive_batch("STB-1", "S02", boss, serials=[f"MANY{i}" for i in range(30)])
        db.session.commit()
    with count_queries() as many:
        page = client.get("/inventory/moves").get_data(as_text=True)
    assert "MANY29" in page
    assert len(many) == len(few)  # no query per row
    moves = [q for q in many if "inventory_stock_moves" in q and "LIMIT" in q.upper()]
    assert len(moves) == 1 and "repair_orders" in moves[0] and "users" in moves[0]


@pytest.mark.parametrize("query, field, message", [
    ("location=999999", "location", "None of your stores, vans or the repair centre has this id."),
    ("location=abc", "location", "Choose one from the list."),
    ("item=12x", "item", "Choose one from the list."),
    ("item=999999", "item", "No item has this id."),
    ("type=steal", "type", "Choose one from the list."),
    ("from=9999-01-01", "from", "A date from 2000 to 2100, written YYYY-MM-DD."),
    ("to=2026-02-30", "to", "A date from 2000 to 2100, written YYYY-MM-DD."),
    ("from=2026-03-03&to=2026-03-01", "to", "The last day is before the first day."),
    ("order=" + "9" * 61, "order", "An order number has at most 60 characters."),
])
def test_bad_filters_are_explained_beside_their_field(client, ledger, login, query, field, message):
    login(ledger["keeper"])
    resp = client.get(f"/inventory/moves?{query}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    error = re.search(rf'<small class="error field-error" id="f-{field}-error"[^>]*>([^<]*)</small>', page)
    assert error and error.group(1) == message
    assert f'id="f-{field}"' in page and 'aria-invalid="true"' in page
    assert 'data-testid="moves-refused"' in page and "<table" not in page
    raw = query.split("&")[-1].split("=", 1)[1]
    assert f'value="{raw}"' in page  # what was typed or sent stays in the form
    assert client.get(f"/inventory/moves.csv?{query}").status_code == 422  # no file of nothing


def test_script_in_a_filter_is_text(client, ledger, login):
    login(ledger["keeper"])
    page = client.get("/inventory/moves?order=<script>alert(1)</script>&location=<b>x").get_data(as_text=True)
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>x" not in page and 'value="&lt;b&gt;x" selected' in page


def test_another_stations_place_is_refused_like_no_place(app, client, ledger, login):
    login(ledger["keeper"])
    s2 = location_id(app, "S02")
    resp = client.get(f"/inventory/moves?location={s2}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "None of your stores, vans or the repair centre has this id." in page
    assert "OTHER-1" not in page and f'<option value="{s2}" selected>{s2}</option>' in page
    assert "S02 ·" not in page  # not among the choices either
    assert client.get(f"/inventory/moves.csv?location={s2}").status_code == 422
    login(ledger["admin"])
    assert "OTHER-1" in client.get(f"/inventory/moves?location={s2}").get_data(as_text=True)


def test_who_may_see_the_ledger(client, ledger, login):
    login(ledger["tech"])
    assert client.get("/inventory/moves").status_code == 403
    assert client.get("/inventory/moves.csv").status_code == 403
    login(ledger["disp"])
    assert client.get("/inventory/moves").status_code == 403


# --- serial units -------------------------------------------------------------

def test_units_list_searches_filters_and_links_each_unit(app, client, ledger, login):
    login(ledger["keeper"])
    page = client.get("/inventory/units").get_data(as_text=True)
    assert sorted(r.split()[0] for r in rows(page)) == ["BOX%2", "BOXA3", "BOX_1"] and "OTHER-1" not in page
    assert 'href="/inventory/units/BOX_1"' in page and "3 units" in page
    assert sorted(r.split()[0] for r in rows(client.get("/inventory/units?q=box").get_data(as_text=True))) == \
        ["BOX%2", "BOXA3", "BOX_1"]
    # LIKE's wildcards are plain characters: _ is not "any one", % is not "anything"
    assert [r.split()[0] for r in rows(client.get("/inventory/units?q=_").get_data(as_text=True))] == ["BOX_1"]
    assert [r.split()[0] for r in rows(client.get("/inventory/units?q=%25").get_data(as_text=True))] == ["BOX%2"]
    assert "No unit matches." in client.get("/inventory/units?q=O_").get_data(as_text=True)  # not "BOX…"
    assert [r.split()[0] for r in rows(client.get("/inventory/units?status=in_van").get_data(as_text=True))] == \
        ["BOXA3"]
    van = location_id(app, "VAN-TECH")
    assert [r.split()[0] for r in rows(client.get(f"/inventory/units?location={van}").get_data(as_text=True))] == \
        ["BOXA3"]
    with app.app_context():
        stb = services.item_by_sku("STB-1").id
    assert len(rows(client.get(f"/inventory/units?item={stb}&q=box").get_data(as_text=True))) == 3
    # a scanned serial opens its unit; another station's is not there for this keeper
    resp = client.get("/inventory/units?q=boxa3")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/inventory/units/BOXA3")
    assert client.get("/inventory/units?serial=boxa3").status_code == 302  # the old lookup's links
    other = client.get("/inventory/units?q=OTHER-1")
    assert other.status_code == 200 and "No unit matches." in other.get_data(as_text=True)
    for probe in ("OTHER-1", "NOPE-1"):  # the lookup box: another station's unit is as missing as none
        resp = client.get(f"/inventory/units?serial={probe}")
        assert resp.status_code == 404 and f"No unit with serial {probe}." in resp.get_data(as_text=True)
    assert client.get("/inventory/units?serial=box").status_code == 200  # part of serials: the list


@pytest.mark.parametrize("query, field", [("status=lost", "status"), ("location=abc", "location"),
                                          ("item=-1", "item"), ("q=" + "A" * 61, "q")])
def test_bad_unit_filters_are_explained(client, ledger, login, query, field):
    login(ledger["keeper"])
    resp = client.get(f"/inventory/units?{query}")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and f'id="u-{field}-error"' in page and 'data-testid="units-refused"' in page


def test_units_list_shows_exactly_the_units_each_viewer_may_see(app, client, ledger, login):
    with app.app_context():
        boss = db.session.get(User, ledger["admin"].id)
        tech2 = db.session.get(User, ledger["tech2"].id)
        services.record_move("transfer", serial="OTHER-1", source="S02", target="VAN-TECH2", actor=boss)
        services.lend_loaner(None, ledger["customer"].id, "OTHER-1", tech2)  # out at a customer, from S02
        services.record_move("repair_out", serial="BOX_1", source="S01", actor=boss)  # the shared repair centre
        db.session.commit()
        for name in ("keeper", "keeper2", "sup", "sup2", "tech", "tech2", "admin", "disp"):
            viewer = db.session.get(User, ledger[name].id)
            listed = {u.serial for u in db.session.scalars(browse.units_query(viewer, browse.Filters()))}
            allowed = {u.serial for u in db.session.scalars(sa.select(SerialUnit))
                       if services.may_see_unit(viewer, u)}
            assert listed == allowed, name
        keeper2 = db.session.get(User, ledger["keeper2"].id)
        assert "OTHER-1" in {u.serial for u in db.session.scalars(browse.units_query(keeper2, browse.Filters()))}
    login(ledger["tech"])
    page = client.get("/inventory/units").get_data(as_text=True)
    assert [r.split()[0] for r in rows(page)] == ["BOXA3"]


def test_lists_in_chinese(client, ledger, login):
    login(ledger["sup"])
    client.post("/language/zh_CN")
    moves = client.get("/inventory/moves").get_data(as_text=True)
    assert "库存变动" in moves and "Stock moves" not in moves and "First day" not in moves
    units = client.get("/inventory/units").get_data(as_text=True)
    assert "序列号设备" in units and "Serial units" not in units and "Any status" not in units
    bad = client.get("/inventory/moves?from=2026-03-03&to=2026-03-01").get_data(as_text=True)
    assert "结束日期早于开始日期。" in bad


def test_loans_and_unit_history_show_order_numbers(app, client, ledger, login):
    with app.app_context():
        boss = db.session.get(User, ledger["admin"].id)
        services.lend_loaner(ledger["order_id"], ledger["customer"].id, "BOX%2", boss)
        db.session.commit()
    login(ledger["sup"])
    loans = client.get("/inventory/loans").get_data(as_text=True)
    assert f'href="/dispatch/orders/{ledger["order_id"]}">{ledger["order_number"]}</a>' in loans
    history = client.get("/inventory/units/BOX%252").get_data(as_text=True)
    assert ledger["order_number"] in history


def test_a_loaner_is_lent_on_an_order_named_by_its_number(app, client, ledger, login):
    login(ledger["keeper"])
    acc = ledger["customer"].account_no
    resp = client.post("/inventory/loans", data={"serial": "BOX_1", "account_no": acc, "order": "RO-NOPE"})
    assert resp.status_code == 302 and client.get("/api/v1/units/BOX_1").get_json()["status"] == "in_store"
    number = ledger["order_number"]
    resp = client.post("/inventory/loans", data={"serial": "BOX_1", "account_no": acc, "order": number.lower()})
    assert resp.status_code == 302
    assert client.get("/api/v1/units/BOX_1").get_json()["history"][-1]["order"] == ledger["order_id"]


def test_counts_in_flash_messages_are_plural_aware(app, client, ledger, login):
    login(ledger["keeper"])
    resp = client.post("/inventory/moves/new", data={"type": "transfer", "from": "S01", "to": "VAN-TECH",
                                                     "serials": "BOX_1"}, follow_redirects=True)
    assert "1 move recorded." in resp.get_data(as_text=True)
    client.post("/inventory/moves/new", data={"type": "transfer", "from": "VAN-TECH", "to": "S01",
                                              "serials": "BOX_1\nBOXA3"})
    resp = client.get("/inventory/moves/new")
    assert "2 moves recorded." in resp.get_data(as_text=True)
    client.post("/language/zh_CN")
    resp = client.post("/inventory/moves/new", data={"type": "transfer", "from": "S01", "to": "VAN-TECH",
                                                     "serials": "BOX_1"}, follow_redirects=True)
    assert "已记录 1 条库存变动。" in resp.get_data(as_text=True)


# --- sorting (core.sorting) ---------------------------------------------------

def test_ledger_sorts_by_a_column_both_ways_with_the_filters_and_the_pager(app, client, ledger, login,
                                                                              monkeypatch):
    login(ledger["keeper"])
    assert len(rows(client.get("/inventory/moves?sort=qty").get_data(as_text=True))) == 7
    page = client.get("/inventory/moves?sort=-qty&type=receive").get_data(as_text=True)
    lines = rows(page)
    assert "50" in lines[0] and "CON-F" in lines[0] and all("Receive" in line for line in lines)
    assert 'aria-sort="descending" data-sort="qty"' in page
    link = re.search(r'data-sort="item"><a class="sort-link" href="([^"]+)"', page).group(1)
    assert "type=receive" in link and "sort=item" in link
    assert 'name="sort" value="-qty"' in page  # the filter form sends the sort again
    assert "sort=-qty" in re.search(r'href="[^"]*moves.csv[^"]*"', page).group(0)
    first = rows(client.get("/inventory/moves?sort=qty&type=receive").get_data(as_text=True))
    assert first == lines[::-1]  # the id breaks ties in the sort's direction: exactly the reverse
    monkeypatch.setattr(browse, "PER_PAGE", 2)
    one = client.get("/inventory/moves?sort=by").get_data(as_text=True)
    assert "sort=by" in re.search(r'<nav class="pager">.*?</nav>', one, re.S).group(0)
    seen = [m for p in range(1, 5) for m in re.findall(
        r'data-move="(\d+)"', client.get(f"/inventory/moves?sort=by&page={p}").get_data(as_text=True))]
    assert len(seen) == len(set(seen)) == 7  # ties (one person, many moves) broken by id: none twice


def test_units_sort_by_place_and_a_bad_sort_is_a_notice(client, ledger, login):
    login(ledger["keeper"])
    page = client.get("/inventory/units?sort=-location").get_data(as_text=True)
    assert [r.split()[0] for r in rows(page)][0] == "BOXA3"  # in VAN-TECH, after S01 in reverse
    assert 'aria-sort="descending" data-sort="location"' in page
    page = client.get("/inventory/units?sort=location&q=box").get_data(as_text=True)
    assert [r.split()[0] for r in rows(page)][-1] == "BOXA3"
    resp = client.get("/inventory/units?sort=secret_column")
    assert resp.status_code == 200 and 'data-testid="sort-notice"' in resp.get_data(as_text=True)
    assert len(rows(resp.get_data(as_text=True))) == 3


def test_ledger_csv_follows_the_sort(client, ledger, login):
    login(ledger["keeper"])
    body = client.get("/inventory/moves.csv?sort=qty").get_data(as_text=True).lstrip("\ufeff")
    quantities = [int(r["qty"]) for r in csv.DictReader(io.StringIO(body))]
    assert quantities == sorted(quantities)


def test_loans_sort_by_serial_both_ways_keep_the_overdue_filter_and_explain_a_bad_sort(app, client, ledger, login,
                                                                                        clock):
    with app.app_context():
        boss = db.session.get(User, ledger["admin"].id)
        for serial in ("BOX_1", "BOX%2"):
            services.lend_loaner(ledger["order_id"], ledger["customer"].id, serial, boss)
            clock.advance(minutes=1)
        db.session.commit()
    login(ledger["keeper"])

    def serials(url):
        table = client.get(url).get_data(as_text=True).split('data-testid="loans"')[1].split("</table>")[0]
        return re.findall(r'/inventory/units/[^"]+">([^<]+)</a>', table)
    assert serials("/inventory/loans?sort=serial") == ["BOX%2", "BOX_1"]
    assert serials("/inventory/loans?sort=-serial") == ["BOX_1", "BOX%2"]
    assert serials("/inventory/loans?sort=-lent") == ["BOX%2", "BOX_1"]  # lent a minute later
    page = client.get("/inventory/loans?sort=-serial&overdue=1").get_data(as_text=True)
    assert 'aria-sort="descending" data-sort="serial"' in page and "overdue=1" in page.split('data-sort="due"')[1][:200]
    bad = client.get("/inventory/loans?sort=due;drop")
    assert bad.status_code == 200 and 'data-testid="sort-notice"' in bad.get_data(as_text=True)
    assert serials("/inventory/loans?sort=due;drop") == serials("/inventory/loans")
