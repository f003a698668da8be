"""The admins' SLA policy pages: list, edit and new, every error at once beside its field, audited."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from core.audit import AuditEvent
from core.extensions import db
from dispatch.orders.models import RepairOrder, SlaPolicy

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
GOOD = {"restore_hours": "12", "warning_lead_hours": "2", "escalation_step_hours": "3"}


def fault_policy(app) -> SlaPolicy:
    with app.app_context():
        row = db.session.scalar(sa.select(SlaPolicy).where(SlaPolicy.kind == "fault", SlaPolicy.segment.is_(None)))
        db.session.expunge(row)
        return row


def field_error(page: str, name: str) -> str | None:
    found = re.search(rf'data-testid="error-{name}">([^<]*)<', page)
    return found.group(1) if found else None


def test_only_admins(client, login, city):
    policy = fault_policy(client.application)
    for user in (city.sup1, city.boss, city.disp, city.t1):
        login(user)
        assert client.get("/dispatch/sla-policies").status_code == 403
        assert client.post(f"/dispatch/sla-policies/{policy.id}", data=GOOD).status_code == 403
        assert client.post("/dispatch/sla-policies/new", data={"kind": "fault", "segment": "vip", **GOOD}).status_code == 403
        client.post("/logout")
    assert fault_policy(client.application).restore_hours == 24


def test_list_and_edit_is_audited_and_applies_to_new_orders(app, clock, client, login, city, make_order):
    login(city.admin)
    page = client.get("/dispatch/sla-policies").get_data(as_text=True)
    assert page.count('data-testid="sla-policy-row"') == 4 and "Every segment" in page
    policy = fault_policy(app)
    form = client.get(f"/dispatch/sla-policies/{policy.id}").get_data(as_text=True)
    assert 'name="restore_hours" value="24"' in form
    resp = client.post(f"/dispatch/sla-policies/{policy.id}", data={**GOOD, "wait_parts_pauses": "1"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dispatch/sla-policies")
    assert "SLA policy saved" in client.get("/dispatch/sla-policies").get_data(as_text=True)
    saved = fault_policy(app)
    assert (saved.restore_hours, saved.warning_lead_hours, saved.escalation_step_hours, saved.wait_parts_pauses) \
        == (12, 2, 3, True)
    with app.app_context():
        audit = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "sla.policy.update"))
        assert audit.actor_id == city.admin.id and audit.object_id == str(policy.id)
        assert audit.details["before"]["restore_hours"] == 24 and audit.details["after"]["restore_hours"] == 12
    clock.set(T0)
    oid = make_order()
    with app.app_context():
        order = db.session.get(RepairOrder, oid)
        assert order.deadline_at == T0 + timedelta(hours=12) and order.warn_at == T0 + timedelta(hours=10)


def test_every_error_at_once_next_to_its_field_with_input_kept(app, client, login, city):
    login(city.admin)
    policy = fault_policy(app)
    cases = [
        ({"restore_hours": "-5", "warning_lead_hours": "0", "escalation_step_hours": "721"},
         {"restore_hours": "More than 0 hours.", "warning_lead_hours": "More than 0 hours.",
          "escalation_step_hours": "At most 720 hours (30 days)."}),
        ({"restore_hours": "1e400", "warning_lead_hours": "", "escalation_step_hours": "0"},
         {"restore_hours": "A number of hours, such as 24 or 1.5.", "warning_lead_hours": "Required: a number of hours.",
          "escalation_step_hours": "Level 2 must come after level 1, which is at the deadline: more than 0 hours after it."}),
        ({"restore_hours": "8", "warning_lead_hours": "8", "escalation_step_hours": "nan"},
         {"restore_hours": None,
          "warning_lead_hours": "Less than the restore hours (8), or the warning would come before the order exists.",
          "escalation_step_hours": "A number of hours, such as 24 or 1.5."}),
    ]
    for data, expected in cases:
        resp = client.post(f"/dispatch/sla-policies/{policy.id}", data=data)
        page = resp.get_data(as_text=True)
        assert resp.status_code == 422 and 'data-testid="form-error"' in page
        for name, message in expected.items():
            assert field_error(page, name) == message, (name, page)
            assert f'name="{name}" value="{data[name]}"' in page  # input kept as typed
    hostile = "<script>alert(1)</script>"
    page = client.post(f"/dispatch/sla-policies/{policy.id}", data={**GOOD, "restore_hours": hostile}).get_data(as_text=True)
    assert hostile not in page and "&lt;script&gt;" in page
    assert fault_policy(app).restore_hours == 24
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                                 .where(AuditEvent.action.startswith("sla.policy"))) == 0
    assert client.get("/dispatch/sla-policies/999999").status_code == 404
    assert client.post("/dispatch/sla-policies/2147483648", data=GOOD).status_code == 404


def test_new_segment_policy_wins_and_duplicates_are_refused(app, clock, client, login, city, make_order,
                                                            make_customer):
    login(city.admin)
    resp = client.post("/dispatch/sla-policies/new", data={"kind": "fault", "segment": "vip", **GOOD})
    assert resp.status_code == 302
    with app.app_context():
        row = db.session.scalar(sa.select(SlaPolicy).where(SlaPolicy.segment == "vip"))
        assert (row.kind, row.restore_hours) == ("fault", 12)
        assert db.session.scalar(sa.select(AuditEvent.action).where(AuditEvent.object_type == "sla_policy",
                                                                AuditEvent.object_id == str(row.id))) \
            == "sla.policy.create"
    again = client.post("/dispatch/sla-policies/new", data={"kind": "fault", "segment": "vip", **GOOD})
    page = again.get_data(as_text=True)
    assert again.status_code == 422
    assert field_error(page, "segment") == "This kind and segment have a policy already; edit that one."
    bad = client.post("/dispatch/sla-policies/new", data={"kind": "teleport", "segment": "martian", **GOOD})
    page = bad.get_data(as_text=True)
    assert field_error(page, "kind") == "Choose an order kind."
    assert field_error(page, "segment") == "Choose a customer segment, or none for every segment."
    clock.set(T0)
    vip = make_customer(lat=22.505, lon=114.005, segment="vip")
    with app.app_context():
        order = db.session.get(RepairOrder, make_order(customer=vip))
        assert order.deadline_at == T0 + timedelta(hours=12)


def test_policy_pages_in_chinese(app, client, login, city):
    login(city.admin)
    client.post("/language/zh_CN")
    page = client.get("/dispatch/sla-policies").get_data(as_text=True)
    assert "SLA 政策" in page and "故障" in page and "SLA policies" not in page
    policy = fault_policy(app)
    page = client.post(f"/dispatch/sla-policies/{policy.id}",
                       data={**GOOD, "restore_hours": "0"}).get_data(as_text=True)
    assert field_error(page, "restore_hours") == "须大于 0 小时。"
