"""The audit log page reads like a story: who (by name), did what (in words), to which object (by name,
linked), what changed ("field: before → after"); filtered by object; hostile names shown as text."""
from __future__ import annotations

import re

import sqlalchemy as sa

from core import audit
from core.audit import AuditEvent
from core.auth import get_user
from core.extensions import db


def rows(page: str) -> list[str]:
    return re.findall(r'<tr data-testid="audit-row".*?</tr>', page, flags=re.S)


def setup_log(app, make_user, make_station):
    """A category changed by an admin, a station made, an SLA policy changed, a login failure."""
    from dispatch.orders import services
    from dispatch.orders.models import Category, SlaPolicy
    from dispatch.orders.services import category_admin
    from dispatch.deadlines.services import policies

    admin = make_user("admin", username="boss", full_name="Wang Fang")
    station = make_station("S07")
    with app.app_context():
        services.ensure_reference_data()
        actor = get_user(admin.id)
        row = db.session.scalar(sa.select(Category).where(Category.code == "BB-SLOW"))
        category_admin.save_category({**category_admin.form_values(row), "weight": "1.8", "is_active": False},
                                     actor, row.id)
        policy = db.session.scalar(sa.select(SlaPolicy).where(SlaPolicy.kind == "fault"))
        policies.save_policy({**policies.form_values(policy), "restore_hours": "12"}, actor, policy.id)
        audit.record("mystery.thing", "gizmo", "42", actor=actor, note="as is")
        db.session.commit()
        return admin, station, row.id, policy.id


def test_names_not_ids_and_changes_as_lines(client, login, app, make_user, make_station):
    admin, station, category_id, policy_id = setup_log(app, make_user, make_station)
    login(admin)
    page = client.get("/admin/audit").get_data(as_text=True)
    found = rows(page)
    category_row = next(r for r in found if 'data-action="category.update"' in r)
    assert "Wang Fang (boss)" in category_row and "Category changed" in category_row
    assert f'href="/dispatch/categories/{category_id}"' in category_row and "BB-SLOW — Slow broadband" in category_row
    assert "Weight: 1.6 → 1.8" in category_row and "Active: yes → no" in category_row
    assert "{" not in category_row.split('data-testid="audit-changes"')[1]  # no JSON
    policy_row = next(r for r in found if 'data-action="sla.policy.update"' in r)
    assert "SLA policy changed" in policy_row and "Fault · every segment" in policy_row
    assert f'href="/dispatch/sla-policies/{policy_id}"' in policy_row and "Restore hours: 24 → 12" in policy_row
    station_row = next(r for r in found if 'data-action="station.create"' in r)
    assert "Station created" in station_row and f'href="/admin/stations/{station.id}"' in station_row
    assert "S07 — " in station_row
    unknown = next(r for r in found if 'data-action="mystery.thing"' in r)
    assert "mystery.thing" in unknown and "gizmo" in unknown and "#42" in unknown and "note: as is" in unknown
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", category_row)  # local time, not ISO with a zone


def test_the_page_reads_names_in_a_few_queries(client, login, app, make_user, make_station, count_queries):
    admin, *_ = setup_log(app, make_user, make_station)
    with app.app_context():
        for i in range(30):
            make_station(f"T{i:02d}")
    login(admin)
    with count_queries() as few:
        client.get("/admin/audit")
    with app.app_context():
        for i in range(30):
            audit.record("station.update", "station", 999_000 + i)
        db.session.commit()
    with count_queries() as more:
        client.get("/admin/audit")
    assert len(more) == len(few)  # not one query per row


def test_filter_by_object_type_and_code_or_id(client, login, app, make_user, make_station):
    admin, station, category_id, _policy = setup_log(app, make_user, make_station)
    login(admin)
    by_code = client.get("/admin/audit", query_string={"object_type": "category", "object_id": "bb-slow"})
    page = by_code.get_data(as_text=True)
    assert by_code.status_code == 200
    assert {re.search(r'data-action="([^"]+)"', r).group(1) for r in rows(page)} == {"category.update"}
    by_id = client.get("/admin/audit", query_string={"object_type": "station", "object_id": str(station.id)})
    assert [re.search(r'data-action="([^"]+)"', r).group(1) for r in rows(by_id.get_data(as_text=True))] \
        == ["station.create"]
    by_user = client.get("/admin/audit", query_string={"object_type": "user", "object_id": "boss"})
    assert any('data-action="user.create"' in r for r in rows(by_user.get_data(as_text=True)))


def test_bad_filters_are_explained_beside_their_fields(client, login, app, make_user, make_station):
    admin, *_ = setup_log(app, make_user, make_station)
    login(admin)
    cases = [({"object_type": "category", "object_id": "NO-SUCH"}, "object_id", "No Category is called “NO-SUCH”."),
             ({"object_id": "BB-SLOW"}, "object_id", "Choose the object type to find an object by its code, number or "
                                                     "name; without a type, give its id."),
             ({"object_type": "sla_policy", "object_id": "fault"}, "object_id", "Give the id (a number) of the SLA policy."),
             ({"object_type": "spaceship"}, "object_type", "Choose an object type from the list."),
             ({"object_type": "category", "object_id": "x" * 81}, "object_id", "At most 80 characters.")]
    for args, name, message in cases:
        resp = client.get("/admin/audit", query_string=args)
        page = resp.get_data(as_text=True)
        assert resp.status_code == 422, args
        assert re.search(rf'data-testid="error-{name}">([^<]*)<', page).group(1) == message
        assert not rows(page)
        for value in args.values():
            assert f'value="{value}"' in page  # kept as sent


def test_a_script_in_a_name_shows_as_text(client, login, app, make_user):
    admin = make_user("admin", username="boss", full_name="<script>alert('x')</script>")
    with app.app_context():
        audit.record("user.update", "user", admin.id, actor=get_user(admin.id), fields=["<img src=x onerror=1>"])
        db.session.commit()
    login(admin)
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=1&gt;" in page


def test_chinese_labels(client, login, app, make_user, make_station):
    admin, *_ = setup_log(app, make_user, make_station)
    login(admin)
    client.post("/language/zh_CN")
    page = client.get("/admin/audit").get_data(as_text=True)
    row = next(r for r in rows(page) if 'data-action="category.update"' in r)
    assert "类别已修改" in row and "BB-SLOW — 宽带网速慢" in row and "权重: 1.6 → 1.8" in row


def test_only_admins_read_the_log(client, login, make_user):
    login(make_user("dispatcher"))
    assert client.get("/admin/audit").status_code == 403
    with client.application.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action.like("category%"))) == 0


def test_codes_among_the_changes_read_as_words(app):
    with app.test_request_context():
        assert audit.change_lines({"after": {"kind": "fault", "skill": "fiber", "service_line": "broadband",
                                             "weight": 1.5, "is_active": True}}) == \
            ["Order kind: Fault", "Skill: Fibre", "Service line: Broadband", "Weight: 1.5", "Active: yes"]
        assert audit.change_lines({"before": {"skill": "new_thing"}, "after": {"skill": "fiber"},
                                   "fields": ["name", "odd"]}) == ["Skill: new_thing → Fibre",
                                                                   "Fields changed: Name, odd"]
        assert audit.change_lines(None) == [] and audit.action_label("never.seen") == "never.seen"


def test_a_status_a_role_and_a_channel_read_as_words_in_both_languages(app):
    from flask_babel import force_locale

    details = {"before": {"status": "assigned", "role": "technician"}, "after": {"status": "resolved",
                                                                              "role": "supervisor"}}
    with app.test_request_context():
        assert audit.change_lines(details) == ["Status: Assigned → Resolved",
                                                "Role: Technician → Station supervisor"]
        assert audit.change_lines({"after": {"channel": "hotline"}}) == ["Channel: Hotline"]
        with force_locale("zh_CN"):
            zh = " ".join(audit.change_lines(details) + audit.change_lines({"after": {"channel": "hotline"}}))
    assert not any(code in zh for code in ("assigned", "resolved", "technician", "supervisor", "hotline")), zh


def test_an_order_and_its_technician_by_number_and_name(client, login, app, make_user, make_station):
    admin = make_user("admin", username="boss")
    tech = make_user("technician", username="t9", full_name="Zhao Lei", station=make_station("S09"))
    with app.app_context():
        audit.record("order.assign", "repair_order", 777, actor=get_user(admin.id), technician=tech.id)
        audit.record("order.assign", "repair_order", "99999999999999999999", technician="99999999999999999999")
        db.session.commit()
    login(admin)
    resp = client.get("/admin/audit", query_string={"action": "order.assign"})
    found = rows(resp.get_data(as_text=True))
    assert resp.status_code == 200 and len(found) == 2
    named = next(r for r in found if "#777" in r)
    assert "Order assigned" in named and "Technician: Zhao Lei (t9)" in named
    assert "/dispatch/orders/777" not in named  # no such order: no link to a page that is not there


def test_a_real_order_by_its_number_with_a_link(client, login, app, make_user, make_customer):
    from dispatch.orders import services
    admin = make_user("admin", username="boss")
    disp = make_user("dispatcher", username="d1")
    customer = make_customer()
    with app.app_context():
        services.ensure_reference_data()
        order = services.create_order({"customer_id": customer.id, "category": "BB-SLOW", "description": "x"},
                                      get_user(disp.id))
        db.session.commit()
        number, order_id = order.number, order.id
    login(admin)
    page = client.get("/admin/audit", query_string={"object_type": "repair_order", "object_id": number})
    found = rows(page.get_data(as_text=True))
    assert page.status_code == 200 and found
    assert all(f'href="/dispatch/orders/{order_id}">{number}</a>' in r for r in found)
