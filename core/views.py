"""Login, logout, the landing page per role, language choice."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from core import auth, sessions
from core.access import allow_any_user, allowed_roles, may, public
from core.extensions import db
from core.forms import LoginForm

bp = Blueprint("core", __name__, template_folder="templates")

LANDING = {
    "admin": "admin.index",
    "dispatcher": "dispatch.index",
    "supervisor": "dispatch.index",
    "technician": "field.index",
    "stockkeeper": "inventory.index",
}


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/")
@public
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("core.login"))
    return redirect(url_for(LANDING[current_user.role]))


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm(next=request.args.get("next", ""))
    error = None
    status = 200
    if form.validate_on_submit():
        try:
            user = auth.authenticate(form.username.data, form.password.data, request.remote_addr or "")
        except auth.LoginRefused as err:
            db.session.commit()  # the failed attempt counts towards throttling
            error, status = err.message, 401
        except auth.LoginThrottled as err:
            db.session.commit()
            error, status = err.message, 429
        else:
            sessions.start(user)  # a fresh session (no fixation), recorded on the server
            return redirect(_safe_next(form.next.data) or url_for(LANDING[user.role]))
    elif request.method == "POST":
        error, status = _("Enter your username and password."), 400
    return render_template("core/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
@allow_any_user
def logout():
    sessions.end()  # this browser only; a copy of its cookie stops working too
    flash(_("You are logged out."), "info")
    return redirect(url_for("core.login", logged_out=1))


@bp.route("/language/<code>", methods=["POST"])
@public
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["locale"] = code
        if current_user.is_authenticated:
            auth.update_user(current_user, locale=code)
    return redirect(_safe_next(request.form.get("next")) or url_for("core.home"))


NAV = (
    ("dispatch.index", _l("Queues")),
    ("dispatch_board.index", _l("Board")),
    ("dispatch_map.index", _l("Map")),
    ("field.index", _l("My jobs")),
    ("inventory.index", _l("Stock")),
    ("reports.index", _l("Reports")),
    ("admin.index", _l("Admin")),
)


@bp.app_context_processor
def navigation():
    # only routes that exist and are not public (a public route is not a menu entry)
    items = [(endpoint, str(label)) for endpoint, label in NAV
             if current_user.is_authenticated and endpoint in current_app.view_functions
             and allowed_roles(current_app, endpoint) is not None and may(endpoint)]
    return {"nav_items": items}
