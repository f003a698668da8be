"""Flask-Login wiring: login sessions checked on the server, and bearer tokens.

The session cookie is signed but kept by the client, so it cannot be taken back: it carries
the id of a server-side session record (core.auth.UserSession), which logout deletes (that
browser only), and a password change or disabling deletes for all of the user's sessions.
"""
from __future__ import annotations

import re

from flask import Flask, g, session
from flask_babel import lazy_gettext as _l
from flask_login import login_user, logout_user

from core.extensions import login_manager
from core.parse import is_id


SESSION_KEY = "sid"  # the login session's id in the signed cookie


def start(user) -> None:
    """Log the user in on a fresh session (no fixation) with its own server-side record."""
    from core import auth

    session.clear()
    login_user(user)
    session[SESSION_KEY] = auth.start_session(user)


def end() -> None:
    """Log out this browser's session: its record goes, so a copy of the cookie is worthless."""
    from core import auth

    auth.end_session(session.get(SESSION_KEY))
    logout_user()
    session.clear()


def register(app: Flask) -> None:
    from core import auth

    login_manager.init_app(app)
    login_manager.login_view = "core.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.session_protection = "basic"

    @login_manager.user_loader
    def load_user(user_id: str):
        uid, _, nonce = (user_id or "").partition(":")
        if not re.fullmatch(r"[0-9]{1,10}", uid) or not is_id(int(uid)):
            return None
        return auth.user_for_session(int(uid), nonce, session.get(SESSION_KEY))

    @login_manager.request_loader
    def load_bearer(request):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        user = auth.user_for_token(header[7:].strip())
        if user is not None:
            g.bearer_auth = True
        return user
