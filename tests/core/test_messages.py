"""core.messages: stored codes rendered in the current language, with the stored text to fall back on."""
from __future__ import annotations

import pytest
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from core import messages


@pytest.fixture
def table(app):
    codes = {"test.hello": _l("Hello %(name)s"), "test.wrap": _l("%(inner)s!"),
             "test.alert": (_l("Title %(n)d"), _l("Body %(n)d"))}
    made = messages.Messages(codes, refs={"name": lambda code: f"<{code}>"})
    messages.register([made])
    yield made
    for code in codes:
        messages._codes.pop(code, None)


def test_stored_keeps_english_text_code_and_params(app, table):
    with app.test_request_context(), force_locale("zh_CN"):
        note = table.stored("test.hello", name="x")
    assert note == "Hello <x>" and note.code == "test.hello" and note.params == {"name": "x"}  # the ref resolved


def test_an_unknown_code_or_wrong_params_show_the_stored_text(app, table):
    with app.test_request_context():
        assert messages.render(None, None, "old text") == "old text"
        assert messages.render("no.such.code", {}, "old text") == "old text"
        assert messages.render("test.alert", {"n": "not a number"}, "old text") == "old text"
        assert messages.render("test.hello", {}, "old text") == "old text"  # a parameter missing
        assert messages.render("test.hello", {"name": "y"}, "", part=1) == ""  # no body in a one-part message


def test_a_message_inside_a_message_and_an_alerts_two_parts(app, table):
    with app.test_request_context():
        inner = table.stored("test.hello", name="z")
        outer = table.stored("test.wrap", inner=inner)
        assert outer == "Hello <z>!" and outer.params["inner"]["msg"] == "test.hello"
        gone = {"msg": "no.such.code", "params": {}, "text": "as it was"}
        assert messages.render("test.wrap", {"inner": gone}) == "as it was!"
        alert = table.stored("test.alert", n=3)
        assert (messages.render(alert.code, alert.params, "", 0), messages.render(alert.code, alert.params, "", 1)) \
            == ("Title 3", "Body 3")


def test_a_code_is_declared_once(table):
    messages.register([table])  # the same table again changes nothing
    with pytest.raises(ValueError):
        messages.register([messages.Messages({"test.hello": _l("again")})])


def test_the_app_registers_every_packages_table(app):
    from dispatch.deadlines.messages import MESSAGES as deadlines
    from dispatch.orders.messages import MESSAGES as orders
    from dispatch.reports.messages import MESSAGES as reports
    from inventory.messages import MESSAGES as inventory

    known = messages.codes()
    for table in (orders, deadlines, reports, inventory):
        assert all(known[code] is table for code in table.templates)
