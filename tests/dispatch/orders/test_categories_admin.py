"""The admins' job category pages: list, new and edit, every error at once beside its field, audited;
resolution codes of a category (field's pages) added, renamed and retired."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.audit import AuditEvent
from core.auth import get_user
from core.errors import Forbidden, Invalid
from core.extensions import db
from dispatch.orders import services
from dispatch.orders.models import Category
from dispatch.orders.services import category_admin as categories
from field import services as field_services
from field.models import ResolutionCode

GOOD = {"code": "BB-ROUTER", "name": "Router broken", "name_zh": "路由器故障", "kind": "fault",
        "service_line": "broadband", "skill": "broadband", "new_skill": "", "weight": "1.4",
        "service_minutes": "45", "is_active": "1"}


def field_error(page: str, name: str) -> str | None:
    found = re.search(rf'data-testid="error-{name}">([^<]*)<', page)
    return found.group(1) if found else None


def category(app, code: str) -> Category:
    with app.app_context():
        row = db.session.scalar(sa.select(Category).where(Category.code == code))
        if row is not None:
            db.session.expunge(row)
        return row


@pytest.fixture
def admin(app, make_user):
    user = make_user("admin", username="boss", full_name="Wang Fang")
    with app.app_context():
        services.ensure_reference_data()
        db.session.commit()
    return user


# --------------------------------------------------------------------------- services

def test_save_category_creates_and_audits_every_value(app, admin):
    with app.app_context():
        row = categories.save_category(dict(GOOD), get_user(admin.id))
        db.session.commit()
        assert (row.code, row.name_zh, row.skill, row.weight, row.service_minutes, row.is_active) == \
            ("BB-ROUTER", "路由器故障", "broadband", 1.4, 45, True)
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "category.create"))
        assert event.object_type == "category" and event.object_id == str(row.id)
        assert event.details["after"]["service_minutes"] == 45 and "before" not in event.details


def test_every_mistake_at_once_and_nothing_written(app, admin):
    bad = {"code": "bb slow!", "name": "", "name_zh": "x" * 121, "kind": "party", "service_line": "radio",
           "skill": "juggling", "weight": "0", "service_minutes": "4", "is_active": "1"}
    with app.app_context():
        with pytest.raises(Invalid) as caught:
            categories.save_category(bad, get_user(admin.id))
        assert set(caught.value.fields) == {"code", "name", "name_zh", "kind", "service_line", "skill", "weight",
                                            "service_minutes"}
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Category)) == len(services.reference.CATEGORIES)


@pytest.mark.parametrize("name, value, ok", [
    ("weight", "0.1", True), ("weight", "5", True), ("weight", "5.01", False), ("weight", "0.05", False),
    ("weight", "nan", False), ("weight", "1e400", False), ("service_minutes", "5", True),
    ("service_minutes", "1440", True), ("service_minutes", "1441", False), ("service_minutes", "4", False),
    ("service_minutes", "30.5", False), ("service_minutes", "", False)])
def test_bounds(app, admin, name, value, ok):
    with app.app_context():
        data = {**GOOD, name: value}
        if ok:
            assert categories.save_category(data, get_user(admin.id)).code == "BB-ROUTER"
        else:
            with pytest.raises(Invalid) as caught:
                categories.save_category(data, get_user(admin.id))
            assert set(caught.value.fields) == {name}
        db.session.rollback()


def test_duplicate_code_refused_in_any_case(app, admin):
    with app.app_context():
        with pytest.raises(Invalid) as caught:
            categories.save_category({**GOOD, "code": "bb-slow"}, get_user(admin.id))
        assert caught.value.fields == {"code": "A category with code BB-SLOW exists already."}


def test_new_skill_must_be_a_short_code(app, admin):
    with app.app_context():
        actor = get_user(admin.id)
        for typed in ("", "Fibre Splicing", "x" * 41, "1abc"):
            with pytest.raises(Invalid) as caught:
                categories.save_category({**GOOD, "skill": categories.NEW_SKILL, "new_skill": typed}, actor)
            assert set(caught.value.fields) == {"new_skill"}
        row = categories.save_category({**GOOD, "skill": categories.NEW_SKILL, "new_skill": "router_setup"}, actor)
        assert row.skill == "router_setup" and "router_setup" in categories.known_skills()
        db.session.rollback()


def test_update_audits_only_what_changed_and_keeps_the_code(app, admin):
    row = category(app, "BB-SLOW")
    with app.app_context():
        data = {**categories.form_values(row), "code": "HACKED", "weight": "1.8", "is_active": False}
        saved = categories.save_category(data, get_user(admin.id), row.id)
        db.session.commit()
        assert (saved.code, saved.weight, saved.is_active) == ("BB-SLOW", 1.8, False)
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "category.update"))
        assert event.details["before"] == {"weight": 1.6, "is_active": True}
        assert event.details["after"] == {"weight": 1.8, "is_active": False}
        # a deactivated category is not offered to new orders, but stays for the orders naming it
        assert "BB-SLOW" not in {c.code for c in services.categories()}
        categories.save_category(data, get_user(admin.id), row.id)  # no change: no audit row
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action == "category.update")) == 1


def test_only_admins_may_save(app, admin, make_user):
    disp = make_user("dispatcher")
    with app.app_context(), pytest.raises(Forbidden):
        categories.save_category(dict(GOOD), get_user(disp.id))


# --------------------------------------------------------------------------- pages

def test_pages_are_for_admins_only(client, login, admin, make_user, make_station):
    station = make_station()
    row = category(client.application, "BB-SLOW")
    for role in ("dispatcher", "supervisor", "technician", "stockkeeper"):
        login(make_user(role, station=station))
        assert client.get("/dispatch/categories").status_code == 403
        assert client.post("/dispatch/categories/new", data=GOOD).status_code == 403
        assert client.post(f"/dispatch/categories/{row.id}", data={**GOOD, "weight": "2"}).status_code == 403
        assert client.get(f"/field/categories/{row.id}/resolution-codes").status_code == 403
        client.post("/logout")
    assert category(client.application, "BB-ROUTER") is None and category(client.application, "BB-SLOW").weight == 1.6


def test_list_new_and_edit(client, login, admin):
    login(admin)
    assert "/dispatch/categories" in client.get("/admin/").get_data(as_text=True)
    page = client.get("/dispatch/categories").get_data(as_text=True)
    assert page.count('data-testid="category-row"') == len(services.reference.CATEGORIES)
    resp = client.post("/dispatch/categories/new", data=GOOD)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dispatch/categories")
    listing = client.get("/dispatch/categories").get_data(as_text=True)
    assert "Category BB-ROUTER saved." in listing and "路由器故障" in listing and "45 min" in listing
    row = category(client.application, "BB-ROUTER")
    form = client.get(f"/dispatch/categories/{row.id}").get_data(as_text=True)
    assert 'name="code"' not in form and 'value="Router broken"' in form and 'value="45"' in form
    assert f"/field/categories/{row.id}/resolution-codes" in form


def test_every_error_at_once_beside_its_field_with_the_input_kept(client, login, admin):
    login(admin)
    bad = {**GOOD, "code": "BB-SLOW", "name": "", "weight": "9", "service_minutes": "2000",
           "skill": categories.NEW_SKILL, "new_skill": "Bad Skill"}
    resp = client.post("/dispatch/categories/new", data=bad)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert field_error(page, "code") == "A category with code BB-SLOW exists already."
    assert field_error(page, "name") == "Required."
    assert field_error(page, "weight") == "A number from 0.1 to 5.0, such as 1.2."
    assert field_error(page, "service_minutes") == "Whole minutes from 5 to 1440."
    assert field_error(page, "new_skill").startswith("A skill is a short code")
    assert "Please correct the 5 marked fields." in page
    assert 'value="9"' in page and 'value="2000"' in page and 'value="Bad Skill"' in page and 'value="路由器故障"' in page
    assert 'aria-invalid="true"' in page
    assert category(client.application, "BB-SLOW").weight == 1.6


def test_a_name_with_a_script_is_shown_as_text(client, login, admin):
    login(admin)
    hostile = '<script>alert(1)</script>'
    assert client.post("/dispatch/categories/new", data={**GOOD, "name": hostile}).status_code == 302
    page = client.get("/dispatch/categories").get_data(as_text=True)
    assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    audit_page = client.get("/admin/audit").get_data(as_text=True)
    assert hostile not in audit_page and "&lt;script&gt;" in audit_page


def test_unknown_category_is_404(client, login, admin):
    login(admin)
    assert client.get("/dispatch/categories/999999").status_code == 404
    assert client.get("/field/categories/999999/resolution-codes").status_code == 404


# --------------------------------------------------------------------------- resolution codes (field)

def test_resolution_codes_added_renamed_and_retired(client, login, admin, app):
    login(admin)
    row = category(app, "BB-SLOW")
    url = f"/field/categories/{row.id}/resolution-codes"
    bad = client.post(url, data={"code": "no good", "name": "", "name_zh": ""})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'value="no good"' in page
    assert field_error(page, "code").startswith("Capital letters") and field_error(page, "name") == "Required."
    assert field_error(page, "name_zh") == "Required."
    resp = client.post(url, data={"code": "router-reset", "name": "Router reset", "name_zh": "路由器重置",
                                  "is_active": "1"})
    assert resp.status_code == 302
    dup = client.post(url, data={"code": "ROUTER-RESET", "name": "Again", "name_zh": "再次", "is_active": "1"})
    assert dup.status_code == 422
    assert field_error(dup.get_data(as_text=True), "code") == "This category has the code ROUTER-RESET already."
    with app.app_context():
        code = db.session.scalar(sa.select(ResolutionCode).where(ResolutionCode.code == "ROUTER-RESET"))
        assert code.category_code == "BB-SLOW" and code.is_active
        assert [c.code for c in field_services.resolution_codes("BB-SLOW")] == ["ROUTER-RESET"]
        code_id = code.id
    edit = f"{url}/{code_id}"
    refused = client.post(edit, data={"name": "", "name_zh": "路由器重置"})
    assert refused.status_code == 422 and field_error(refused.get_data(as_text=True), "name") == "Required."
    assert client.post(edit, data={"name": "Router restarted", "name_zh": "路由器重启"}).status_code == 302
    with app.app_context():
        code = db.session.get(ResolutionCode, code_id)
        assert (code.name, code.name_zh, code.is_active) == ("Router restarted", "路由器重启", False)
        assert field_services.resolution_codes("BB-SLOW") == []  # retired: not offered any more
        event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "resolution_code.update"))
        assert event.details["before"] == {"name": "Router reset", "name_zh": "路由器重置", "is_active": True}
        assert event.details["after"] == {"name": "Router restarted", "name_zh": "路由器重启", "is_active": False}
    # a code of another category is not reachable through this one
    other = category(app, "BB-DROPS")
    assert client.get(f"/field/categories/{other.id}/resolution-codes/{code_id}").status_code == 404
