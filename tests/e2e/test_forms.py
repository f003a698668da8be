"""One form pattern in a browser: a refused form comes back with every error beside its field and the
input kept — the dispatcher's callback form and the admin's user form, at 1440 and 390 px, in English
and Chinese."""
from __future__ import annotations

import pytest

from e2e.conftest import ARTIFACTS, log_in, resolved_order

pytestmark = pytest.mark.e2e

SIZES = {"desktop": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}
SUMMARY = {"en-US": ("Please correct the 1 marked field.", "Please correct the 3 marked fields."),
           "zh-CN": ("请更正标记的 1 个字段。", "请更正标记的 3 个字段。")}


@pytest.fixture
def world(app, make_station, make_user, make_customer):
    """A resolved order waiting for its callback, its dispatcher, and an admin."""
    order_id, number, disp = resolved_order(app, make_station, make_user, make_customer, suffix="forms")
    admin = make_user("admin", username="admin-forms")
    return {"order": order_id, "number": number, "disp": disp, "admin": admin}


def _beside(page, field_selector: str, error_selector: str) -> None:
    """The error is shown, inside its field's box, and below the field's label (not at the page's top)."""
    field = page.locator(field_selector)
    error = field.locator(error_selector)
    assert error.is_visible()
    f, e = field.bounding_box(), error.bounding_box()
    assert f["y"] <= e["y"] and e["y"] + e["height"] <= f["y"] + f["height"] + 1
    assert f["x"] <= e["x"] + 1 and e["x"] + e["width"] <= f["x"] + f["width"] + 1
    control = field.locator("input, select, textarea").first
    assert control.get_attribute("aria-invalid") == "true"
    assert error.get_attribute("id") in (control.get_attribute("aria-describedby") or "").split()


def _no_sideways_scroll(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_refused_forms_mark_each_field_and_keep_the_input(app, world, new_page, base_url, locale, size):
    one, three = SUMMARY[locale]
    viewport = SIZES[size]

    # the dispatcher's callback form: the customer was reached, one question left blank
    page, watch = new_page(locale=locale)
    page.set_viewport_size(viewport)
    log_in(page, base_url, world["disp"].username)
    page.goto(f"{base_url}/reports/callbacks")
    form = page.get_by_test_id(f"callback-form-{world['number']}")
    form.locator("input[name=reached][value=yes]").check()
    for question, answer in (("fixed", "yes"), ("appointment_made", "yes"), ("on_time", "no")):
        form.locator(f"input[name={question}][value={answer}]").check()
    form.locator("select[name=satisfaction]").select_option("4")
    form.locator("textarea[name=comment]").fill("called at <b>noon</b>")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.locator("button[type=submit]").click()
    assert answer.value.status == 422
    page.wait_for_selector("[data-testid=error-guided]")
    form = page.get_by_test_id(f"callback-form-{world['number']}")
    assert one in form.get_by_test_id("form-error").inner_text()
    _beside(page, "fieldset[data-field=guided] >> nth=0", "[data-testid=error-guided]")
    assert form.locator("input[name=reached][value=yes]").is_checked()
    assert form.locator("input[name=on_time][value=no]").is_checked()
    assert form.locator("select[name=satisfaction]").input_value() == "4"
    assert form.locator("textarea[name=comment]").input_value() == "called at <b>noon</b>"
    form.get_by_test_id("form-error").locator("a").first.click()  # the summary leads to the field
    page.wait_for_function("location.hash.endsWith('-guided')")
    _no_sideways_scroll(page, viewport["width"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"forms-callback-{locale}-{size}.png"), full_page=True)
    assert not watch.errors, watch.errors

    # the admin's user form: three mistakes at once
    page, watch = new_page(locale=locale)
    page.set_viewport_size(viewport)
    log_in(page, base_url, world["admin"].username)
    page.goto(f"{base_url}/admin/users/new")
    page.fill("input[name=username]", "Bad Name!")
    page.fill("input[name=full_name]", "Wang Wei")
    page.select_option("select[name=role]", "technician")
    page.check("input[name=skills][value=fiber]")
    page.fill("input[name=password]", "short")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_test_id("user-form").locator("button[type=submit]").click()
    assert answer.value.status == 422
    page.wait_for_selector("[data-testid=error-password]")
    assert three in page.get_by_test_id("form-error").inner_text()
    for name in ("username", "station", "password"):
        _beside(page, f".field[data-field={name}]", f"[data-testid=error-{name}]")
    assert page.locator("input[name=username]").input_value() == "Bad Name!"
    assert page.locator("input[name=full_name]").input_value() == "Wang Wei"
    assert page.locator("select[name=role]").input_value() == "technician"
    assert page.locator("input[name=skills][value=fiber]").is_checked()
    _no_sideways_scroll(page, viewport["width"])
    page.screenshot(path=str(ARTIFACTS / f"forms-user-{locale}-{size}.png"), full_page=True)
    assert not watch.errors, watch.errors
