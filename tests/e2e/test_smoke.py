"""Each role logs in with a real browser, in English and in Chinese, and sees its landing page."""
from __future__ import annotations

import pytest

from e2e.conftest import log_in

pytestmark = pytest.mark.e2e

LANDING = {
    "admin": ("/admin/", "Administration", "系统管理"),
    "dispatcher": ("/dispatch/", None, None),
    "supervisor": ("/dispatch/", None, None),
    "technician": ("/field/", "My jobs", "我的工单"),
    "stockkeeper": ("/inventory/", None, None),
}


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_every_role_lands_on_its_page(new_page, base_url, make_user, make_station, locale):
    station = make_station()
    page, watch = new_page(locale=locale)
    for role, (path, en, zh) in LANDING.items():
        user = make_user(role, station=station)
        log_in(page, base_url, user.username)
        assert page.url == base_url + path, (role, page.url)
        heading = page.get_by_test_id("landing").inner_text()
        expected = zh if locale == "zh-CN" else en
        if expected:
            assert heading == expected, (role, heading)
        assert page.locator("html").get_attribute("lang") == ("zh-CN" if locale == "zh-CN" else "en")
        page.get_by_test_id("logout").click()
        page.wait_for_url(f"{base_url}/login?logged_out=1")
    assert not watch.errors, watch.errors
    assert not watch.outside, watch.outside


def test_wrong_password_shows_an_error(new_page, base_url, make_user):
    user = make_user("dispatcher")
    page, watch = new_page()
    log_in(page, base_url, user.username, "not-the-password")
    assert "Wrong username or password" in page.get_by_test_id("login-error").inner_text()
    assert page.url.endswith("/login")


def test_language_switch_sticks(new_page, base_url, make_user):
    user = make_user("admin")
    page, watch = new_page()
    log_in(page, base_url, user.username)
    page.get_by_role("button", name="中文").click()
    page.wait_for_load_state("load")
    assert page.get_by_test_id("landing").inner_text() == "系统管理"
    page.goto(f"{base_url}/admin/users")
    assert "用户" in page.locator("h1").inner_text()
    assert not watch.errors
