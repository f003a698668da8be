"""Sortable lists (core.sorting): the dispatcher's queues, the scorecards' orders, the admin's users.

Sorting runs in SQL over the whole list (not the page), with the id as the last key; the header
says which way (aria-sort and an arrow); the filters and the sort survive the pager; a sort the list
does not know is ignored with a notice.
"""
from __future__ import annotations

import re

from core.extensions import db


def _orders(app, city, customers: list, *, kind_of_day: str = "") -> list[str]:
    from core.auth import get_user
    from dispatch.orders import services
    numbers = []
    with app.app_context():
        for c in customers:
            order = services.create_order({"customer_id": c.id, "category": "DTV-MOSAIC", "description": "x",
                                           "lat": 22.505, "lon": 114.005}, get_user(city.dispatcher.id))
            numbers.append(order.number)
        db.session.commit()
    return numbers


def _numbers(page: str) -> list[str]:
    body = page.split('<table data-testid="orders">', 1)[1].split("</table>")[0]
    return re.findall(r">(RO-\d{8}-\d{4})</a>", body)


def test_queue_sorts_by_customer_both_ways_in_sql_with_filters_kept(app, client, city, login, make_customer):
    customers = [make_customer(name=n, lat=22.505, lon=114.005) for n in ("Zhou", "An", "Mei")]
    numbers = _orders(app, city, customers)
    by_name = dict(zip(("Zhou", "An", "Mei"), numbers))
    login(city.dispatcher)
    page = client.get("/dispatch/?queue=open&sort=customer").get_data(as_text=True)
    assert _numbers(page) == [by_name["An"], by_name["Mei"], by_name["Zhou"]]
    assert re.search(r'<th aria-sort="ascending" data-sort="customer"><a class="sort-link" href="[^"]*sort=-customer', page)
    assert 'aria-sort="none" data-sort="number"' in page and "▲" in page
    # the header link keeps the queue; the other direction
    page = client.get("/dispatch/?queue=open&sort=-customer").get_data(as_text=True)
    assert _numbers(page) == [by_name["Zhou"], by_name["Mei"], by_name["An"]]
    assert 'aria-sort="descending" data-sort="customer"' in page and "▼" in page
    link = re.search(r'data-sort="number"><a class="sort-link" href="([^"]+)"', page).group(1)
    assert "queue=open" in link and "sort=number" in link
    # the search box sends the sort again; a search keeps it
    assert '<input type="hidden" name="sort" value="-customer">' in page
    found = client.get("/dispatch/?queue=open&sort=-customer&q=" + by_name["Mei"]).get_data(as_text=True)
    assert _numbers(found) == [by_name["Mei"]]


def test_same_values_keep_one_order_and_the_pager_keeps_the_sort(app, client, city, login, make_customer,
                                                                   monkeypatch):
    from dispatch.orders import views
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    customers = [make_customer(name="Same", lat=22.505, lon=114.005) for _ in range(5)]
    numbers = _orders(app, city, customers)
    login(city.dispatcher)
    first = client.get("/dispatch/?queue=open&sort=customer").get_data(as_text=True)
    assert "sort=customer" in re.search(r'<nav class="pager">.*?</nav>', first, re.S).group(0)
    seen = _numbers(first)
    seen += _numbers(client.get("/dispatch/?queue=open&sort=customer&page=2").get_data(as_text=True))
    seen += _numbers(client.get("/dispatch/?queue=open&sort=customer&page=3").get_data(as_text=True))
    assert seen == sorted(numbers)  # ties broken by id: every order once, in the order they were taken


def test_unknown_sort_is_ignored_with_a_notice(app, client, city, login, make_customer):
    _orders(app, city, [make_customer(lat=22.505, lon=114.005)])
    login(city.dispatcher)
    for bad in ("password", "--number", "customer;drop", "-", "x" * 500):
        resp = client.get("/dispatch/", query_string={"queue": "open", "sort": bad})
        page = resp.get_data(as_text=True)
        assert resp.status_code == 200 and 'data-testid="sort-notice"' in page, bad
        assert "usual order" in page and len(_numbers(page)) == 1
    assert 'data-testid="sort-notice"' not in client.get("/dispatch/?sort=-deadline").get_data(as_text=True)


def test_unknown_sort_notice_in_chinese(app, client, city, login):
    login(city.dispatcher)
    page = client.get("/dispatch/?sort=nope", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "“nope”" in page and "usual order" not in page


def test_admin_users_sort_by_full_name_and_station(client, make_user, make_station, login):
    s1, s2 = make_station("S01"), make_station("S02", lon=114.1)
    make_user("technician", username="aa", full_name="Zed", station=s2)
    make_user("technician", username="bb", full_name="Amy", station=s1)
    admin = make_user("admin", username="zz-admin", full_name="Boss")
    login(admin)

    def names(query: str) -> list[str]:
        page = client.get(f"/admin/users?{query}").get_data(as_text=True)
        return re.findall(r'/admin/users/\d+">([^<]+)</a>', page)
    assert names("sort=username") == ["aa", "bb", "zz-admin"]
    assert names("sort=full_name") == ["bb", "zz-admin", "aa"]
    assert names("sort=-station&role=technician") == ["aa", "bb"]
    page = client.get("/admin/users?sort=-full_name&role=technician").get_data(as_text=True)
    assert 'aria-sort="descending" data-sort="full_name"' in page
    assert re.search(r'data-sort="role"><a class="sort-link" href="[^"]*role=technician', page)
    assert 'data-testid="sort-notice"' in client.get("/admin/users?sort=password_hash").get_data(as_text=True)


def test_scorecard_orders_sort_by_number(app, client, city, login, make_customer):
    numbers = _orders(app, city, [make_customer(lat=22.505, lon=114.005) for _ in range(3)])
    login(city.dispatcher)
    day = numbers[0][3:11]
    day = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    page = client.get(f"/reports/orders?metric=orders&from={day}&to={day}&sort=number").get_data(as_text=True)
    found = re.findall(r">(RO-\d{8}-\d{4})</a>", page)
    assert found == sorted(numbers)
    assert 'aria-sort="ascending" data-sort="number"' in page
    page = client.get(f"/reports/orders?metric=orders&from={day}&to={day}&sort=-number").get_data(as_text=True)
    assert re.findall(r">(RO-\d{8}-\d{4})</a>", page) == sorted(numbers, reverse=True)
    link = re.search(r'data-sort="station"><a class="sort-link" href="([^"]+)"', page).group(1)
    assert "metric=orders" in link and f"from={day}" in link
