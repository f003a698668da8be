"""The reports' forms (issue 13/15): a bad filter or a bad callback is explained in the page — the form
again, every bad field marked beside itself, what was typed kept — never a bare error page."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.extensions import db


def _errors(page: str) -> dict[str, str]:
    return {m.group(1): re.sub(r"\s+", " ", m.group(2)).strip()
            for m in re.finditer(r'data-testid="error-([a-z_]+)">(.*?)</small>', page, re.S)}


def _value(page: str, input_id: str) -> str | None:
    picker = re.search(rf'<select id="{input_id}".*?</select>', page, re.S)  # a picker: its chosen option
    if picker:
        chosen = re.search(r'<option value="([^"]*)" selected>', picker.group(0))
        return chosen.group(1) if chosen else None
    tag = re.search(rf'<input[^>]*id="{input_id}"[^>]*>', page)
    assert tag, f"no input {input_id}"
    m = re.search(r'value="([^"]*)"', tag.group(0))
    return m.group(1) if m else None


def _in_page(resp) -> str:
    """A refusal shown in the filter page itself, not the bare error page."""
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'data-testid="report-filters"' in page and 'class="error-page' not in page
    assert "This page does not exist" not in page
    return page


@pytest.mark.parametrize("path", ["/reports/", "/reports/orders?metric=orders&", "/reports/export.csv?"])
def test_unknown_station_is_marked_in_the_filter_form(client, city, two, login, path):
    login(city.dispatcher)
    sep = "" if path.endswith(("?", "&")) else "?"
    page = _in_page(client.get(f"{path}{sep}station=XYZ&from=2026-03-02&to=2026-03-03"))
    assert _errors(page) == {"station": "No such station."}
    assert _value(page, "f-station") == "XYZ" and _value(page, "f-from") == "2026-03-02"
    assert 'href="#f-station"' in page and 'aria-describedby="f-station-error' in page
    assert 'data-testid="totals"' not in page  # no figures for a query that names nothing


def test_every_bad_filter_at_once(client, city, two, login):
    login(city.dispatcher)
    page = _in_page(client.get("/reports/?from=0001-01-01&to=9999-12-31&station=XYZ&technician=99999999999"
                               "&category=NOPE&service_line=radio"))
    errors = _errors(page)
    assert set(errors) == {"from", "to", "station", "technician", "category", "service_line"}, errors
    assert "2000" in errors["from"] and "2100" in errors["to"]
    assert "Please correct the 6 marked fields." in page
    # typed values kept, the refused dates as text (a date input would blank them)
    assert _value(page, "f-from") == "0001-01-01" and _value(page, "f-to") == "9999-12-31"
    assert re.search(r'<input type="text" id="f-from"', page)
    assert _value(page, "f-technician") == "99999999999" and _value(page, "f-category") == "NOPE"


def test_dates_in_reverse_order(client, city, two, login):
    login(city.dispatcher)
    page = _in_page(client.get("/reports/?from=2026-03-05&to=2026-03-01"))
    errors = _errors(page)
    assert list(errors) == ["from"] and "2026-03-01" in errors["from"]
    assert _value(page, "f-from") == "2026-03-05" and _value(page, "f-to") == "2026-03-01"


@pytest.mark.parametrize("query, field", [("technician=abc", "technician"), ("from=2026-13-01", "from"),
                                          ("from=<script>x</script>", "from"), ("to=tomorrow", "to")])
def test_other_bad_values(client, city, two, login, query, field):
    login(city.dispatcher)
    page = _in_page(client.get(f"/reports/?{query}"))
    assert set(_errors(page)) == {field}
    assert "<script>x</script>" not in page


def test_bad_figure_and_level_are_explained_too(client, city, two, login):
    login(city.dispatcher)
    page = _in_page(client.get("/reports/orders?metric=planet"))
    assert "metric" in _errors(page) or "Figure" in page
    page = _in_page(client.get("/reports/orders?metric=breach&level=abc"))
    assert "Escalation level" in page


def test_good_filters_still_show_the_figures(client, city, two, login):
    login(city.dispatcher)
    resp = client.get("/reports/?from=2026-03-02&to=2026-03-03&station=S01")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'data-testid="totals"' in page and not _errors(page)
    assert _value(page, "f-station") == "S01" and re.search(r'<input type="date" id="f-from"', page)


def test_api_keeps_its_answers(client, city, two, token_for):
    headers = token_for(city.dispatcher)
    assert client.get("/api/v1/reports/kpis?station=XYZ", headers=headers).status_code == 404
    body = client.get("/api/v1/reports/kpis?from=0001-01-01&to=9999-01-01", headers=headers).get_json()
    assert set(body["error"]["fields"]) == {"from", "to"}


def test_technicians_filter_refusal_is_in_the_page(client, city, two, login):
    login(city.t1)
    page = _in_page(client.get("/reports/?category=NOPE"))
    assert set(_errors(page)) == {"category"}


# --------------------------------------------------------------------------- the callback form

def _callbacks(app):
    from dispatch.reports.models import Callback
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Callback))


def _checked(page: str, input_id: str) -> bool:
    tag = re.search(rf'<input[^>]*id="{input_id}"[^>]*>', page, re.S)
    return bool(tag) and " checked" in tag.group(0)


def test_callback_with_a_question_left_blank_comes_back_marked(app, client, city, two, login, form_happy):
    login(city.dispatcher)
    order = two["B"]
    answers = {k: v for k, v in form_happy.items() if k != "guided"}
    resp = client.post(f"/reports/callbacks/{order}", data={**answers, "comment": "<b>kept</b>"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and 'class="card callback"' in page and 'class="error-page' not in page
    assert _errors(page) == {"guided": "Please choose yes or no."}
    assert "Please correct the 1 marked field." in page and f'href="#cb-{order}-guided"' in page
    assert f'aria-describedby="cb-{order}-guided-error"' in page
    # the answers given are kept in that order's form, and that form comes first
    first = re.search(r'data-order="(\d+)"', page).group(1)
    assert first == str(order)
    assert _checked(page, f"cb-{order}-reached") and _checked(page, f"cb-{order}-fixed")
    assert re.search(r'<option value="5" selected>5</option>', page)
    assert "&lt;b&gt;kept&lt;/b&gt;</textarea>" in page
    # the other order's form is untouched
    assert not _checked(page, f"cb-{two['A']}-reached")
    assert _callbacks(app) == 0
    ok = client.post(f"/reports/callbacks/{order}", data=form_happy)
    assert ok.status_code == 302 and _callbacks(app) == 1


def test_callback_reached_unanswered(app, client, city, two, login):
    login(city.dispatcher)
    page = client.get("/reports/callbacks").get_data(as_text=True)
    assert "answer every question" in page  # the questions say they are needed
    resp = client.post(f"/reports/callbacks/{two['A']}", data={"satisfaction": "9"})
    assert resp.status_code == 422
    assert set(_errors(resp.get_data(as_text=True))) == {"reached"}


def test_feedback_page_marks_the_blank_answers(app, city, two, login, form_happy):
    staff = app.test_client()
    login(city.dispatcher, c=staff)
    resp = staff.post(f"/reports/callbacks/{two['A']}/link", follow_redirects=True)
    url = re.search(r"(http://[^ <]+/reports/feedback/[A-Za-z0-9_-]+)", resp.get_data(as_text=True)).group(1)
    path = url.split("localhost", 1)[1]
    customer = app.test_client()
    bad = customer.post(path, data={"fixed": "yes", "on_time": "no", "comment": "slow"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and 'data-testid="feedback-form"' in page
    assert set(_errors(page)) == {"appointment_made", "guided", "satisfaction"}
    assert "Please correct the 3 marked fields." in page and 'href="#fb-satisfaction"' in page
    assert _checked(page, "fb-fixed") and ">slow</textarea>" in page
    done = customer.post(path, data={k: v for k, v in form_happy.items() if k != "reached"})
    assert done.status_code == 200 and 'data-testid="feedback-done"' in done.get_data(as_text=True)
