"""Flask-Login wiring: sessions that end when the password changes, and bearer tokens."""
from __future__ import annotations

from flask import Flask, g
from flask_babel import lazy_gettext as _l

from core.extensions import login_manager


def register(app: Flask) -> None:
    from core import auth

    login_manager.init_app(app)
    login_manager.login_view = "core.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str):
        uid, _, nonce = (user_id or "").partition(":")
        if not uid.isdigit():
            return None
        user = auth.get_user(int(uid))
        if user is None or not user.is_enabled or user.session_nonce != nonce:
            return None
        return user

    @login_manager.request_loader
    def load_bearer(request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        user = auth.user_for_token(header[7:].strip())
        if user is not None:
            g.bearer_auth = True
        return user
