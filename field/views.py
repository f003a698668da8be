"""The technician's mobile web app, its service worker, and every user's notification inbox."""
from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from flask import (Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request,
                   send_from_directory, url_for)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from core import outbox
from core.access import allow, allow_any_user, public
from core.apiutil import json_body
from core.customers import mask_phone, reveal_contact
from core.database import after_commit
from core.errors import Conflict, DomainError, Invalid
from core.i18n import current_language
from core.extensions import db
from core.parse import ids_from, to_float
from core.security import upload
from dispatch.orders import services as dispatch
from dispatch.orders.services import category_admin as category_services
from field import services, sync
from inventory import services as inventory

bp = Blueprint("field", __name__, url_prefix="/field", template_folder="templates")
# The inbox is for every role, so it lives outside /field/ (registered in app.py).
inbox_bp = Blueprint("inbox", __name__, template_folder="templates")

SERVICE_WORKER = Path(__file__).resolve().parent.parent / "static" / "field" / "sw.js"
OPEN = ("assigned", "accepted", "en_route", "on_site", "waiting_customer", "waiting_parts")
# the technician's buttons, in the order a job goes; "decline" and "resolve" have forms of their own
BUTTONS = ("accept", "depart", "arrive", "wait_customer", "wait_parts", "resume")
NEXT_STATUS = {"accept": "accepted", "depart": "en_route", "arrive": "on_site", "wait_customer": "waiting_customer",
               "wait_parts": "waiting_parts", "resume": "on_site", "resolve": "resolved", "decline": "gone"}
PHOTO_TYPES = {b"\xff\xd8\xff": "jpg", b"\x89PNG\r\n\x1a\n": "png"}
MAX_PHOTOS, MAX_PHOTO_BYTES = 5, 5 * 1024 * 1024
ORDER_VIEWERS = ("technician", "dispatcher", "supervisor", "admin")


def _my_job(order_id: int) -> Any:
    """The order, if it is assigned to the caller; others' jobs do not exist for them (404)."""
    try:
        order = dispatch.get_order(order_id)
    except DomainError:
        abort(404)
    if order.technician_id != current_user.id:
        abort(404)
    return order


def _point() -> tuple[Any, Any]:
    """The position the app sent with a form, kept only while on duty (off duty nothing is recorded)."""
    if not sync.on_duty(current_user):
        return None, None
    lat = to_float(request.form.get("lat"), lo=-90, hi=90)
    lon = to_float(request.form.get("lon"), lo=-180, hi=180)
    return (lat, lon) if lat is not None and lon is not None else (None, None)


def _action_labels() -> dict[str, str]:
    return {"accept": _("Accept"), "decline": _("Decline"), "depart": _("On my way"), "arrive": _("Arrived"),
            "wait_customer": _("Waiting for customer"), "wait_parts": _("Waiting for parts"), "resume": _("Resume"),
            "resolve": _("Resolve")}


@bp.context_processor
def action_words() -> dict[str, Any]:
    """The actions' names for app.js (the "needs attention" list names what could not be applied)."""
    return {"action_labels": _action_labels()}


CODE = re.compile(r"^[a-z0-9_]+$")


def _error_lines(err: DomainError) -> list[str]:
    """The marked fields of a refusal in words ("Part line 2: …"); codes meant for programs ("not_enough")
    are left out, the message says what they mean."""
    names = {"resolution_code": _("Resolution code"), "note": _("Note"), "parts": _("Parts used"),
             "loan": _("Loaner lent"), "collected": _("Faulty unit collected"), "photos": _("Photos"),
             "at": _("Time"), "qty": _("Quantity"), "sku": _("SKU"), "serial": _("Serial number")}
    lines = []
    for key, value in (err.fields or {}).items():
        if not isinstance(value, str) or CODE.match(value) or "{" in value:
            continue
        base, number = re.split(r"[.\[]", key)[0], re.search(r"\d+", key)
        name = (_("Part line %(n)d", n=int(number.group()) + 1) if base == "parts" and number
                else names.get(base, key))
        lines.append(f"{name}: {value}")
    return lines


def _van_serials(van: Any) -> dict[int, list[str]]:
    """item id → the serial numbers of its units in the van, to pick from."""
    serials: dict[int, list[str]] = {}
    for unit in inventory.units_at(van) if van else []:
        if unit.status == "in_van":
            serials.setdefault(unit.item_id, []).append(unit.serial)
    return serials


@bp.route("/")
@allow("technician")
def index():
    jobs = list(db.session.scalars(dispatch.orders_query(current_user, status=",".join(OPEN))))
    # (order, deadline, warn from) with the clock's pauses counted in; soonest first
    rows = sorted(((o, o.effective_deadline(), o.effective_warn_at()) for o in jobs), key=lambda row: row[1])
    return render_template("field/index.html", jobs=rows, on_duty=sync.on_duty(current_user))


@bp.route("/van")
@allow("technician")
def van():
    """What is in the technician's own van, with the serial numbers, inside the app (not the staff stock pages)."""
    own = inventory.van_of(current_user)
    stock = [level for level in db.session.scalars(inventory.levels_query(current_user, location=own.code))
             if level.qty > 0] if own else []
    return render_template("field/van.html", van=own, stock=stock, serials=_van_serials(own))


@bp.route("/offline")
@allow("technician")
def offline():
    """What the service worker shows, offline, for a page this phone never saved (cached at install and with
    My jobs, in the technician's language): never another page in its place."""
    return render_template("field/offline.html", on_duty=sync.on_duty(current_user))


@bp.route("/duty", methods=["POST"])
@allow("technician")
def duty():
    on = request.form.get("on_duty") == "1"
    dispatch.set_duty(current_user, on_duty=on)
    flash(_("You are on duty.") if on else _("You are off duty."), "success")
    return redirect(url_for("field.index"))


@bp.route("/position", methods=["POST"])
@allow("technician")
def position():
    data = json_body()
    if not sync.on_duty(current_user):
        raise Conflict(_("Off duty: your position is not recorded."), code="off_duty")
    dispatch.record_position(current_user.id, data.get("lat"), data.get("lon"))
    return jsonify(recorded=True)


@bp.route("/orders/<int:order_id>")
@allow("technician")
def order_link(order_id: int):
    """Alerts link to /field/orders/<id>; the app calls them jobs."""
    return redirect(url_for("field.job", order_id=order_id))


def _render_job(order: Any, phone: str | None = None, status: int = 200) -> Any:
    history = [o for o in dispatch.customer_history(order.customer_id) if o.id != order.id and o.kind == "fault"]
    allowed = dispatch.allowed_actions(order, current_user)
    return render_template(
        "field/job.html", order=order, customer=order.customer, masked=mask_phone(order.customer.phone or ""),
        phone=phone, history=history[:10], events=dispatch.timeline(order), allowed=allowed, buttons=BUTTONS,
        labels=_action_labels(), sources={a: list(dispatch.orders.TRANSITIONS[a][0]) for a in NEXT_STATUS},
        next_status=NEXT_STATUS, on_duty=sync.on_duty(current_user)), status


@bp.route("/jobs/<int:order_id>")
@allow("technician")
def job(order_id: int):
    return _render_job(_my_job(order_id))


@bp.route("/jobs/<int:order_id>/reveal", methods=["POST"])
@allow("technician")
def reveal(order_id: int):
    order = _my_job(order_id)
    phone = reveal_contact(order.customer, "phone")
    if request.accept_mimetypes.best == "application/json":
        return jsonify(phone=phone)
    return _render_job(order, phone=phone)


@bp.route("/jobs/<int:order_id>/act", methods=["POST"])
@allow("technician")
def act(order_id: int):
    order = _my_job(order_id)
    action, note = request.form.get("action", ""), request.form.get("note", "").strip()
    if action not in dispatch.TECHNICIAN_ACTIONS or action == "resolve":
        raise Invalid(_("Unknown action."), {"action": "unknown"})
    if action == "decline" and not note:
        raise Invalid(_("Say why you decline the job."), {"note": "required"})
    taken = sync.taken_time(order, request.form.get("taken_at"))
    lat, lon = _point()
    sync.take_action(order, action, current_user, note=note, lat=lat, lon=lon, taken_at=taken)
    flash(_("Done: %(action)s.", action=_action_labels()[action]), "success")
    return redirect(url_for("field.index") if action == "decline" else url_for("field.job", order_id=order.id))


def _checked_photos() -> list[tuple[bytes, str]]:
    """The uploaded photos with their extension, refused unless JPEG/PNG and at most 5 MB each."""
    files = [f for f in request.files.getlist("photos") if f and f.filename]
    if len(files) > MAX_PHOTOS:
        raise Invalid(_("At most %(n)d photos.", n=MAX_PHOTOS), {"photos": "too_many"})
    out = []
    for f in files:
        data = f.read(MAX_PHOTO_BYTES + 1)
        if len(data) > MAX_PHOTO_BYTES:
            raise Invalid(_("A photo may be at most 5 MB."), {"photos": "too_large"})
        ext = next((e for magic, e in PHOTO_TYPES.items() if data.startswith(magic)), None)
        if ext is None:
            raise Invalid(_("Photos must be JPEG or PNG images."), {"photos": "type"})
        out.append((data, ext))
    return out


def _photo_dir(order_id: int) -> Path:
    return Path(current_app.instance_path) / "field_photos" / str(order_id)


def _write_photos(folder: Path, named: list[tuple[str, bytes]]) -> None:
    """After the commit: a resolve that was not saved leaves no files behind."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in named:
        (folder / name).write_bytes(data)


@bp.route("/jobs/<int:order_id>/resolve", methods=["GET", "POST"])
@allow("technician")
@upload(text=False)  # photos
def resolve(order_id: int):
    order = _my_job(order_id)
    van = inventory.van_of(current_user)
    stock = list(db.session.scalars(inventory.levels_query(current_user, location=van.code))) if van else []
    form = request.form
    lines = [(c, q) for c, q in zip(form.getlist("part_code"), form.getlist("part_qty")) if c.strip()]
    if request.method == "POST":
        try:
            with db.session.begin_nested():  # a shortage or a bad serial leaves nothing behind
                photos = _checked_photos()
                code = services.check_resolution_code(order.category.code, order.category.label(current_language()),
                                                      form.get("resolution_code", "").strip())
                extra: dict[str, Any] = {"resolution_code": code,
                                         "parts": sync.parts_from_codes(zip(
                                             form.getlist("part_code"), form.getlist("part_qty")))}
                for name in ("loan", "collected"):
                    if form.get(f"{name}_serial", "").strip():
                        extra[name] = {"serial": form[f"{name}_serial"].strip().upper()}
                taken = sync.taken_time(order, form.get("taken_at"))
                sync.check_van_parts(current_user, extra["parts"])
                lat, lon = _point()
                sync.take_action(order, "resolve", current_user, note=form.get("note", "").strip(),
                                 lat=lat, lon=lon, taken_at=taken, **extra)
                if photos:
                    named = [(f"{secrets.token_hex(8)}.{ext}", data) for data, ext in photos]
                    dispatch.add_event(order, "note", current_user, _("%(n)d photos", n=len(named)),
                                       photos=[name for name, _data in named])
                    after_commit(lambda folder=_photo_dir(order.id), named=named: _write_photos(folder, named))
        except DomainError as err:
            return render_template("field/resolve.html", order=order, stock=stock, serials=_van_serials(van),
                                   codes=services.resolution_codes(order.category.code), form=form, lines=lines, error=err, error_lines=_error_lines(err),
                                   on_duty=sync.on_duty(current_user)), err.status
        flash(_("Job %(number)s resolved.", number=order.number), "success")
        return redirect(url_for("field.index"))
    return render_template("field/resolve.html", order=order, stock=stock, serials=_van_serials(van),
                           codes=services.resolution_codes(order.category.code), form=form,
                           lines=lines, error=None, error_lines=[], on_duty=sync.on_duty(current_user))


@bp.route("/jobs/<int:order_id>/photos/<name>")
@allow(*ORDER_VIEWERS)
def photo(order_id: int, name: str):
    try:
        order = dispatch.get_order(order_id)
    except DomainError:
        abort(404)
    if not dispatch.may_see(order, current_user):
        abort(404)
    return send_from_directory(_photo_dir(order.id), name)


@bp.route("/sync", methods=["GET", "POST"])
@allow("technician")
def sync_queue():
    """GET: a fresh CSRF token for the replay (cached pages may carry an old one). POST: replay the queue."""
    if request.method == "GET":
        return jsonify(csrf_token=generate_csrf())
    results = sync.replay(current_user, json_body().get("items"))
    return jsonify(results=results)


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
        ids = ids_from(request.form.getlist("id"))
        count = services.mark_read(current_user, ids or None)
        flash(_("Alerts marked read: %(n)s", n=count), "success")
        return redirect(url_for("inbox.notifications", page=request.args.get("page", 1, type=int)))
    page = db.paginate(outbox.inbox(current_user.id), per_page=50, error_out=False, max_per_page=50)
    # a technician reads them inside the app (its bottom bar and offline banner), staff in the staff pages
    in_app = current_user.role == "technician"
    extra = {"action_labels": _action_labels(), "on_duty": sync.on_duty(current_user)} if in_app else {}
    return render_template("field/notifications.html", page=page, in_app=in_app,
                           unread=outbox.unread_count(current_user.id), **extra)


# --------------------------------------------------------------------------- resolution codes (admins)
# Linked from dispatch's category pages; field owns the codes, and reaches categories through dispatch's
# services (dispatch never imports field).

RESOLUTION_CODE_FORM = ("code", "name", "name_zh")


def _codes_page(category: Any, values: dict[str, Any], errors: dict[str, str], error: DomainError | None = None,
                status: int = 200):
    return render_template("field/resolution_codes.html", category=category,
                           codes=services.all_resolution_codes(category.code), values=values, errors=errors,
                           error=error), status


@bp.route("/categories/<int:category_id>/resolution-codes", methods=["GET", "POST"])
@allow("admin")
def resolution_codes(category_id: int):
    """The category's codes, and a form to add one (every error at once, the input kept)."""
    category = category_services.get_category(category_id)
    if request.method == "GET":
        return _codes_page(category, {"is_active": True}, {})
    values: dict[str, Any] = {k: request.form.get(k, "") for k in RESOLUTION_CODE_FORM}
    values["is_active"] = "is_active" in request.form
    try:
        row = services.save_resolution_code(category.code, values, current_user)
    except DomainError as err:
        return _codes_page(category, values, err.fields or {}, err, err.status)
    flash(_("Resolution code %(code)s added.", code=row.code), "success")
    return redirect(url_for("field.resolution_codes", category_id=category.id))


@bp.route("/categories/<int:category_id>/resolution-codes/<int:code_id>", methods=["GET", "POST"])
@allow("admin")
def resolution_code_edit(category_id: int, code_id: int):
    """Rename a code in both languages, retire it or bring it back."""
    category = category_services.get_category(category_id)
    row = services.get_resolution_code(category.code, code_id)
    errors: dict[str, str] = {}
    error = None
    if request.method == "GET":
        values: dict[str, Any] = {"name": row.name, "name_zh": row.name_zh, "is_active": row.is_active}
    else:
        values = {k: request.form.get(k, "") for k in ("name", "name_zh")}
        values["is_active"] = "is_active" in request.form
        try:
            services.save_resolution_code(category.code, values, current_user, row.id)
        except DomainError as err:
            errors, error = err.fields or {}, err
        else:
            flash(_("Resolution code %(code)s saved.", code=row.code), "success")
            return redirect(url_for("field.resolution_codes", category_id=category.id))
    return render_template("field/resolution_code_edit.html", category=category, row=row, values=values,
                           errors=errors, error=error), (error.status if error else 200)
