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
