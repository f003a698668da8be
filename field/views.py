"""The technician's mobile web app, its service worker, and every user's notification inbox."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core import outbox
from core.access import allow, allow_any_user, public
from core.extensions import db
from field import services

bp = Blueprint("field", __name__, url_prefix="/field", template_folder="templates")
# The inbox is for every role, so it lives outside /field/ (registered in app.py).
inbox_bp = Blueprint("inbox", __name__, template_folder="templates")

SERVICE_WORKER = Path(__file__).resolve().parent.parent / "static" / "field" / "sw.js"


@bp.route("/")
@allow("technician")
def index():
    return render_template("field/index.html")


@bp.route("/sw.js")
@public
def service_worker():
    """The service worker, served from /field/ so that its scope is the app (/field/)."""
    resp = Response(SERVICE_WORKER.read_bytes(), mimetype="text/javascript")
    resp.headers["Service-Worker-Allowed"] = "/field/"
    resp.headers["Cache-Control"] = "no-cache"  # browsers must see a new version at once
    return resp


@bp.app_context_processor
def notification_bell():
    def unread() -> int:
        return outbox.unread_count(current_user.id) if current_user.is_authenticated else 0
    return {"unread_notifications": unread}


@inbox_bp.route("/notifications", methods=["GET", "POST"])
@allow_any_user
def notifications():
    if request.method == "POST":
        ids = [int(i) for i in request.form.getlist("id") if i.isdigit()]
        count = services.mark_read(current_user, ids or None)
        flash(_("Alerts marked read: %(n)s", n=count), "success")
        return redirect(url_for("inbox.notifications", page=request.args.get("page", 1, type=int)))
    page = db.paginate(outbox.inbox(current_user.id), per_page=50, error_out=False, max_per_page=50)
    return render_template("field/notifications.html", page=page,
                           unread=outbox.unread_count(current_user.id))
