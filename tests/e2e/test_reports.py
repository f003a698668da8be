"""The customer's one-time survey link on a 360 px phone, in both languages; the scorecards in a browser."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.auth import get_user
from core.extensions import db
from e2e.conftest import ARTIFACTS, log_in, resolved_order

pytestmark = pytest.mark.e2e


def _resolved_order(app, make_station, make_user, make_customer) -> tuple[int, int]:
    """A resolved order at S01 and the dispatcher who will send its survey link."""
    order_id, _number, disp = resolved_order(app, make_station, make_user, make_customer, suffix="e2e")
    return order_id, disp.id


def _link(app, order_id: int, dispatcher_id: int) -> str:
    from dispatch.reports.services import callbacks
    with app.app_context():
        token = callbacks.issue_link(callbacks.order_for_callback(order_id), get_user(dispatcher_id))
        db.session.commit()
        return token


@pytest.mark.parametrize("locale, title, send", [("en-US", "How did we do?", "Send"),
                                                 ("zh-CN", "您对我们的服务满意吗？", "提交")])
def test_customer_answers_on_a_phone(app, new_page, base_url, make_station, make_user, make_customer,
                                     locale, title, send):
    order_id, disp_id = _resolved_order(app, make_station, make_user, make_customer)
    token = _link(app, order_id, disp_id)
    page, watch = new_page(locale=locale, mobile=True)
    page.goto(f"{base_url}/reports/feedback/{token}")
    assert page.locator("h1").inner_text() == title
    form = page.get_by_test_id("feedback-form").bounding_box()
    assert form["x"] >= 0 and form["x"] + form["width"] <= 360  # no sideways scrolling on the phone
    for question in ("fixed", "appointment_made", "on_time", "guided"):
        page.check(f"input[name={question}][value=yes]")
    page.check("input[name=satisfaction][value='4']")
    page.fill("textarea[name=comment]", "quick and friendly")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"reports-feedback-form-{locale}.png"), full_page=True)
    button = page.get_by_test_id("feedback-submit")
    assert button.inner_text() == send
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box["width"] >= 200 and box["height"] >= 40 and box["x"] + box["width"] <= 360  # a thumb-sized button
    button.click()
    page.wait_for_selector("[data-testid=feedback-done]")
    from dispatch.reports.models import Callback
    from dispatch.orders import services
    with app.app_context():
        cb = db.session.scalar(sa.select(Callback).where(Callback.order_id == order_id))
        assert (cb.status, cb.satisfaction, cb.comment, cb.channel) == ("answered", 4, "quick and friendly", "link")
        assert services.get_order(order_id).status == "closed"
    # the link works once
    page.goto(f"{base_url}/reports/feedback/{token}")
    assert page.get_by_test_id("feedback-error").is_visible()
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside


def test_a_form_without_its_csrf_token_is_refused(app, new_page, base_url, make_station, make_user, make_customer):
    order_id, disp_id = _resolved_order(app, make_station, make_user, make_customer)
    token = _link(app, order_id, disp_id)
    page, _watch = new_page(mobile=True)
    resp = page.request.post(f"{base_url}/reports/feedback/{token}", form={
        "fixed": "yes", "appointment_made": "yes", "on_time": "yes", "guided": "yes", "satisfaction": "5"})
    assert resp.status == 400
    from dispatch.orders import services
    with app.app_context():
        assert services.get_order(order_id).status == "resolved"


def test_dispatcher_records_a_callback_and_reads_the_scorecard(app, new_page, base_url, make_station, make_user,
                                                               make_customer):
    order_id, disp_id = _resolved_order(app, make_station, make_user, make_customer)
    page, watch = new_page()
    log_in(page, base_url, "disp-e2e")
    page.goto(f"{base_url}/reports/callbacks")
    card = page.locator(f"section[data-order='{order_id}']")
    card.locator("input[name=reached][value=yes]").check()
    for question in ("fixed", "appointment_made", "on_time", "guided"):
        card.locator(f"input[name={question}][value=yes]").check()
    card.locator("select[name=satisfaction]").select_option("5")
    card.get_by_role("button", name="Record callback").click()
    page.wait_for_selector("[data-testid=queue-empty]")
    page.goto(f"{base_url}/reports/")
    assert page.get_by_test_id("total-orders").inner_text() == "1"
    assert page.get_by_test_id("total-on-time").inner_text() == "100.0 %"
    page.screenshot(path=str(ARTIFACTS / "reports-scorecards.png"), full_page=True)
    page.get_by_test_id("total-orders").locator("a").click()
    page.wait_for_selector("[data-testid=drill-orders]")
    assert page.locator("[data-testid=drill-orders] tbody tr[data-order]").count() == 1
    assert not watch.errors, watch.errors
