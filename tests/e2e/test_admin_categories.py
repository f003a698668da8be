"""An admin creates a job category with a resolution code in a real browser, on a desktop and a phone,
in English and Chinese: the mistakes are marked beside their fields, and the audit log tells the story."""
from __future__ import annotations

from pathlib import Path

import pytest

from e2e.conftest import PageWatch, log_in

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots/categories")
WORDS = {
    "en-US": {"created": "Category created", "code_added": "Resolution code added", "required": "Required."},
    "zh-CN": {"created": "类别已创建", "code_added": "处理代码已添加", "required": "必填。"},
}


@pytest.fixture
def admin(app, make_user):
    from core.extensions import db
    from dispatch.orders import services

    user = make_user("admin", username="e2e-admin", full_name="Li Na")
    with app.app_context():
        services.ensure_reference_data()
        db.session.commit()
    return user


@pytest.mark.parametrize("size", [(1440, 900), (390, 844)], ids=["desktop", "phone"])
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_admin_creates_a_category_with_a_resolution_code(browser, base_url, admin, locale, size):
    SHOTS.mkdir(parents=True, exist_ok=True)
    tag = f"{locale}-{size[0]}"
    words = WORDS[locale]
    ctx = browser.new_context(locale=locale, viewport={"width": size[0], "height": size[1]},
                              is_mobile=size[0] < 500, has_touch=size[0] < 500)
    try:
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        watch = PageWatch(page, {"127.0.0.1"})
        log_in(page, base_url, admin.username)
        page.goto(f"{base_url}/admin/")
        page.get_by_test_id("admin-categories").click()
        page.wait_for_load_state("load")
        assert page.get_by_test_id("category-row").count() == 16
        page.screenshot(path=str(SHOTS / f"list-{tag}.png"), full_page=True)

        page.get_by_test_id("category-new").click()
        page.fill("#code", "bb-slow")  # taken
        page.fill("#name_zh", "<b>路由器</b>故障")
        page.select_option("#skill", "broadband")
        page.fill("#weight", "9")
        page.fill("#service_minutes", "3")
        page.get_by_test_id("category-save").click()
        page.wait_for_load_state("load")
        marked = page.locator(".field.has-error")
        assert marked.count() == 4  # code, name, weight, minutes: all at once
        assert page.get_by_test_id("error-name").inner_text().strip().endswith(words["required"])
        assert page.locator("#code").get_attribute("aria-invalid") == "true"
        assert page.locator("#name_zh").input_value() == "<b>路由器</b>故障"  # kept as typed
        assert page.get_by_test_id("form-error").is_visible()
        page.screenshot(path=str(SHOTS / f"errors-{tag}.png"), full_page=True)

        code = f"E2E-{'ZH' if locale.startswith('zh') else 'EN'}-{size[0]}"
        page.fill("#code", code)
        page.fill("#name", "Router broken")
        page.fill("#weight", "1.4")
        page.fill("#service_minutes", "45")
        page.get_by_test_id("category-save").click()
        page.wait_for_load_state("load")
        row = page.locator(f"[data-testid=category-row][data-code='{code}']")
        assert row.count() == 1 and "<b>路由器</b>故障" in row.inner_text()

        row.get_by_test_id("category-edit").click()
        page.wait_for_load_state("load")
        assert page.get_by_test_id("category-code").inner_text().strip() == code  # fixed: shown, not editable
        assert page.locator("#skill").input_value() == "broadband"
        page.screenshot(path=str(SHOTS / f"edit-{tag}.png"), full_page=True)
        page.get_by_test_id("category-codes").click()
        page.wait_for_load_state("load")
        page.fill("#code", "router-reset")
        page.fill("#name", "Router reset")
        page.fill("#name_zh", "路由器重置")
        page.get_by_test_id("resolution-code-add").click()
        page.wait_for_load_state("load")
        assert page.get_by_test_id("resolution-code-row").count() == 1
        assert "ROUTER-RESET" in page.get_by_test_id("resolution-code-row").inner_text()
        page.screenshot(path=str(SHOTS / f"codes-{tag}.png"), full_page=True)

        page.goto(f"{base_url}/admin/audit")
        page.select_option("#f-object_type", "category")
        page.fill("#f-object_id", code.lower())
        page.locator("[data-testid=audit-filters] button").click()
        page.wait_for_load_state("load")
        entry = page.get_by_test_id("audit-row")
        assert entry.count() == 1
        text = entry.inner_text()
        assert words["created"] in text and "Li Na (e2e-admin)" in text and code in text and "45" in text
        page.screenshot(path=str(SHOTS / f"audit-{tag}.png"), full_page=True)
        page.goto(f"{base_url}/admin/audit")
        assert words["code_added"] in page.get_by_test_id("audit-log").inner_text()
        assert not watch.errors, watch.errors
        assert not watch.outside, watch.outside
        # nothing wider than the screen: the tables scroll inside their frame
        assert page.evaluate("document.documentElement.scrollWidth") <= size[0] + 1
    finally:
        ctx.close()
