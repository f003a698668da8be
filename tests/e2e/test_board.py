"""The supervisor board in a real browser: acknowledge an escalation, open and resolve an incident."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from e2e.conftest import log_in

pytestmark = pytest.mark.e2e

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)


@pytest.fixture
def board_city(app, clock, make_station, make_user, make_customer):
    """S01 with a supervisor and a technician on duty; five close faults (an incident) and one
    escalated order."""
    from core.auth import get_user
    from core.extensions import db
    from dispatch.orders import services
    from dispatch.deadlines.services import incidents, sla

    s1 = make_station("S01", lon=114.0, lat=22.5)
    tech = make_user("technician", username="e2e-tech", station=s1, skills=["digital_tv"])
    sup = make_user("supervisor", username="e2e-sup", station=s1)
    customer = make_customer(lat=22.505, lon=114.005)
    with app.app_context():
        services.ensure_reference_data()
        services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        db.session.commit()
        clock.set(T0)
        late = services.create_order({"customer_id": customer.id, "category": "BB-SLOW", "description": "slow"})
        for i in range(5):
            clock.set(T0 + timedelta(hours=20, minutes=i))
            services.create_order({"customer_id": customer.id, "category": "DTV-MOSAIC", "description": "mosaic",
                                   "lat": 22.505 + i * 0.0002, "lon": 114.005})
        db.session.commit()
        clock.set(T0 + timedelta(hours=24, minutes=10))
        sla.escalate_overdue_orders()
        incidents.detect_incidents()
        db.session.commit()
        from dispatch.deadlines.models import Incident
        incident_id = db.session.scalar(sa.select(Incident.id))
        return {"sup": sup, "late": late.number, "incident": incident_id}


@pytest.mark.parametrize("locale, ack, resolved", [("en-US", "Acknowledge", "Resolved"), ("zh-CN", "确认", "已解决")])
def test_supervisor_acknowledges_and_resolves_an_incident(new_page, base_url, board_city, locale, ack, resolved):
    page, watch = new_page(locale=locale)
    log_in(page, base_url, board_city["sup"].username)
    page.goto(f"{base_url}/dispatch/board")
    row = page.get_by_test_id("escalation-row")
    assert row.count() == 1 and board_city["late"] in row.inner_text()
    button = page.get_by_test_id("ack-button")
    assert button.inner_text().strip() == ack
    button.click()
    page.wait_for_load_state("load")
    assert page.get_by_test_id("escalation-row").count() == 0
    assert page.locator(".flash-success").count() == 1
    page.get_by_test_id("board-incidents").locator("a").first.click()
    page.wait_for_selector(".leaflet-container")
    assert page.locator("[data-testid=incident-orders] tbody tr").count() == 5
    box = page.get_by_test_id("incident-map").bounding_box()
    assert box and box["height"] >= 300
    page.locator("[data-testid=resolve-incident] button").click()
    page.wait_for_load_state("load")
    assert page.get_by_test_id("incident-status").inner_text().strip() == resolved
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside


@pytest.fixture
def escalated_city(app, clock, make_station, make_user, make_customer):
    """S01 with its supervisor, a centre manager and an admin; three orders at level 2 (six alerts)."""
    from core.auth import get_user
    from core.extensions import db
    from dispatch.orders import services
    from dispatch.deadlines.services import sla

    s1 = make_station("S01", lon=114.0, lat=22.5)
    tech = make_user("technician", username="e2e-tech", station=s1, skills=["digital_tv"])
    sup = make_user("supervisor", username="e2e-sup", station=s1)
    boss = make_user("supervisor", username="e2e-boss", station=None)
    admin = make_user("admin", username="e2e-admin")
    customer = make_customer(lat=22.505, lon=114.005)
    with app.app_context():
        services.ensure_reference_data()
        services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        db.session.commit()
        numbers = []
        for i in range(3):
            clock.set(T0 + timedelta(minutes=i))
            numbers.append(services.create_order({"customer_id": customer.id, "category": "DTV-MOSAIC",
                                                  "description": "mosaic"}).number)
        db.session.commit()
        clock.set(T0 + timedelta(hours=24, minutes=10))
        sla.escalate_overdue_orders()
        db.session.commit()
        clock.set(T0 + timedelta(hours=28, minutes=10))
        sla.escalate_overdue_orders()
        db.session.commit()
        return {"sup": sup, "boss": boss, "admin": admin, "numbers": numbers}


@pytest.mark.parametrize("locale, done", [("en-US", "Escalations acknowledged: 3."), ("zh-CN", "已确认升级：6 条。")])
def test_centre_manager_acknowledges_all_rows_at_once(new_page, base_url, escalated_city, locale, done):
    page, watch = new_page(locale=locale)
    log_in(page, base_url, escalated_city["boss"].username)
    page.goto(f"{base_url}/dispatch/board")
    rows = page.get_by_test_id("escalation-row")
    assert rows.count() == 3  # one per order, not one per ladder level
    assert all(rows.nth(i).get_by_test_id("escalation-step").count() == 2 for i in range(3))
    if locale == "en-US":  # one row's button first: only its two escalations
        rows.nth(0).get_by_test_id("ack-button").click()
        page.wait_for_selector(".flash-success")
        assert page.locator(".flash-success").inner_text().strip() == "Escalations acknowledged: 2."
        assert page.get_by_test_id("escalation-row").count() == 2
        page.get_by_test_id("ack-select").first.check()
        page.get_by_test_id("ack-select").nth(1).check()
        done = "Escalations acknowledged: 4."
    else:
        page.get_by_test_id("ack-all").check()
        assert page.get_by_test_id("ack-select").nth(2).is_checked()
    page.get_by_test_id("ack-note").fill("<b>crew</b> on the way")
    page.get_by_test_id("ack-selected").click()
    page.wait_for_selector(".flash-success")
    assert page.locator(".flash-success").inner_text().strip() == done
    assert page.get_by_test_id("escalation-row").count() == 0
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside


def test_station_supervisor_sees_level_two_as_not_theirs(new_page, base_url, escalated_city):
    page, watch = new_page(mobile=True)
    log_in(page, base_url, escalated_city["sup"].username)
    page.goto(f"{base_url}/dispatch/board")
    assert page.get_by_test_id("escalation-row").count() == 3
    page.get_by_test_id("ack-all").check()
    page.get_by_test_id("ack-selected").click()
    page.wait_for_selector(".flash-success")
    assert page.locator(".flash-success").inner_text().strip() == "Escalations acknowledged: 3."
    rows = page.get_by_test_id("escalation-row")
    assert rows.count() == 3 and page.get_by_test_id("ack-select").count() == 0  # level 2 is the managers'
    assert "For the centre managers" in rows.first.inner_text()
    assert not watch.errors, watch.errors


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_admin_edits_an_sla_policy(new_page, base_url, escalated_city, locale):
    page, watch = new_page(locale=locale)
    log_in(page, base_url, escalated_city["admin"].username)
    page.goto(f"{base_url}/admin/")
    page.get_by_test_id("admin-sla-policies").click()
    page.wait_for_selector("[data-testid=sla-policies]")
    page.get_by_test_id("sla-policy-edit").first.click()
    page.wait_for_selector("[data-testid=sla-policy-form]")
    page.fill("input[name=restore_hours]", "0")
    page.fill("input[name=warning_lead_hours]", "-1")
    page.fill("input[name=escalation_step_hours]", "9999")
    page.get_by_test_id("sla-policy-save").click()
    page.wait_for_selector("[data-testid=form-error]")
    for name in ("restore_hours", "warning_lead_hours", "escalation_step_hours"):
        assert page.get_by_test_id(f"error-{name}").is_visible()
    assert page.input_value("input[name=escalation_step_hours]") == "9999"
    page.fill("input[name=restore_hours]", "20")
    page.fill("input[name=warning_lead_hours]", "3")
    page.fill("input[name=escalation_step_hours]", "6")
    page.get_by_test_id("sla-policy-save").click()
    page.wait_for_selector(".flash-success")
    row = page.get_by_test_id("sla-policy-row").first
    assert "20" in row.inner_text() and "6" in row.inner_text()
    assert not watch.errors, watch.errors
