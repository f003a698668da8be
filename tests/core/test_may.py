"""`may(endpoint)`: templates ask the route's own @allow declaration whether to offer a link."""
from __future__ import annotations

from flask import render_template_string
from flask_login import login_user

from core.access import may
from core.auth import get_user

LINK = "{% if may('inventory.count') %}<a href=\"{{ url_for('inventory.count') }}\">count</a>{% endif %}"


def _as(app, user):
    ctx = app.test_request_context("/")
    ctx.push()
    login_user(get_user(user.id))
    return ctx


def test_may_follows_the_route_declarations(app, make_user):
    expected = {  # inventory.count: stockkeeper and admin; incident settings: admin only
        "stockkeeper": (True, False), "admin": (True, True), "supervisor": (False, False),
        "technician": (False, False), "dispatcher": (False, False)}
    for role, (count, settings) in expected.items():
        user = make_user(role)
        ctx = _as(app, user)
        try:
            assert may("inventory.count") is count, role
            assert may("dispatch_board.incident_settings") is settings, role
            assert may("core.login") is True  # public
            assert may("no.such_endpoint") is False
            shown = render_template_string(LINK)
            assert ("/inventory/count" in shown) is count, role
        finally:
            ctx.pop()


def test_may_is_false_for_anonymous_users(app):
    with app.test_request_context("/"):
        assert may("inventory.count") is False
        assert render_template_string(LINK) == ""

