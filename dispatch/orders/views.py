"""Dispatcher and supervisor pages: the queues, taking an order, the order page, a customer's history."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from core import auth
from core import customers as core_customers
from core import stations as core_stations
from core.access import allow, scope_clause
from core.errors import DomainError, Forbidden, Invalid, NotFound
from core.extensions import db
from core.parse import MAX_BIGINT, ids_from, parse_id, parse_int
from core.security import upload
from dispatch.orders import services
from dispatch.orders.models import ACTION_LABELS, CHANNEL_LABELS, CHANNELS, KIND_LABELS, PRIORITIES, \
    PRIORITY_LABELS
from dispatch.orders.services import category_admin as category_services

bp = Blueprint("dispatch", __name__, url_prefix="/dispatch", template_folder="templates")

STAFF = ("dispatcher", "supervisor", "admin")
PAGE_SIZE = 50


def _actor() -> Any:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _order(order_id: int):
    order = services.get_order(order_id)
    services.check_may_see(order, _actor())
    return order


def _order_page(order: Any, phone: str | None = None) -> str:
    # a station's supervisor assigns (and sees) only their station's technicians
    technicians = db.session.scalars(auth.users_query(role="technician")
                                     .where(scope_clause(_actor(), auth.User.station_id))).all()
    return render_template("orders/order.html", order=order, events=services.timeline(order),
                           actions=services.allowed_actions(order, _actor()), locale=str(get_locale() or ""),
                           technicians=[t for t in technicians if t.is_enabled], phone=phone,
                           stations=core_stations.all_stations(),
                           action_labels=ACTION_LABELS, unstaffed=services.is_unstaffed(order),
                           explained=services.explain_candidates(order.candidates or []),
                           score_rule=services.score_rule(), skill=category_services.skill_label(order.category.skill))


@bp.route("/")
@allow(*STAFF)
def index():
    queue = request.args.get("queue") or "open"
    q = request.args.get("q") or ""
    station = request.args.get("station") or None
    if queue not in services.QUEUES:
        queue = "open"
    choices = db.session.scalars(sa.select(core_stations.Station).where(scope_clause(_actor(), core_stations.Station.id))
                                 .order_by(core_stations.Station.code)).all()
    station_error = None
    if station and station not in {st.code for st in choices}:
        # a mistyped or foreign code: said beside the picker, the queue shown for every station
        station_error, station = _("No such station."), None
    stmt, sort = services.sort_orders(services.orders_query(_actor(), queue=queue, q=q, station=station),
                                      request.args.get("sort"))
    page = db.paginate(stmt, per_page=PAGE_SIZE, error_out=False)
    return render_template("orders/index.html", page=page, queue=queue, q=q, station=station, sort=sort,
                           station_options=[(st.code, f"{st.code} · {st.display_name}") for st in choices],
                           station_error=station_error,
                           counts=services.queue_counts(_actor()), labels=services.QUEUE_LABELS,
                           board=services.station_board(_actor()))


def _duplicates(err: DomainError) -> list[Any]:
    """The open orders a possible_duplicate refusal named (only those the actor may see were named)."""
    numbers = [n for n in (err.fields.get("duplicates") or "").split(",") if n]
    found = [services.order_by_number(n) for n in numbers]
    return [o for o in found if o is not None and services.may_see(o, _actor())]


@bp.route("/orders/new", methods=["GET", "POST"])
@allow(*STAFF)
def new_order():
    error = None
    guard: dict[str, Any] = {}
    q = request.args.get("q") or ""
    found = db.session.scalars(core_customers.search_customers(q).limit(20)).all() if q.strip() else []
    if request.method == "POST":
        form = request.form
        data: dict[str, Any] = {"category": form.get("category"), "description": form.get("description"),
                                "channel": form.get("channel") or "hotline", "priority": form.get("priority") or None,
                                "address": form.get("address") or None}
        if not form.get("customer_id"):
            data["customer"] = {"name": form.get("name"), "phone": form.get("phone"), "address": form.get("address")}
        if form.get("lat") or form.get("lon"):
            data["lat"], data["lon"] = form.get("lat"), form.get("lon")
        data["confirm_outside_area"] = form.get("confirm_outside_area") == "1"
        data["confirm_duplicate"] = form.get("confirm_duplicate") == "1"
        try:
            if form.get("customer_id"):
                data["customer_id"] = parse_id(form["customer_id"], "customer_id")
            order = services.create_order(data, _actor(), default_channel="hotline", check_duplicates=True)
        except DomainError as err:
            if err.code == "outside_service_area":
                guard["outside"] = err.message  # asked in the form, with a box to confirm
            elif err.code == "possible_duplicate":
                guard["duplicates"] = _duplicates(err)
            else:
                error = err
        else:
            flash(_("Order %(number)s taken.", number=order.number), "success")
            if services.is_unstaffed(order):
                flash(_("No one is on shift at %(code)s: the order waits in the supervisor's queue "
                        "“No one on shift”.", code=order.station.code), "warning")
            elif order.needs_location:
                flash(_("The order has no location yet: it waits in the queue “Needs location”."), "warning")
            return redirect(url_for("dispatch.order_page", order_id=order.id))
    selected = None
    chosen = ids_from([request.values.get("customer_id")])  # only preselects: a bad one selects nobody
    if chosen:
        selected = db.session.get(core_customers.Customer, chosen[0])
    return render_template("orders/new_order.html", error=error, q=q, found=found, selected=selected,
                           categories=services.categories(), locale=str(get_locale() or ""),
                           default_category=services.default_category_code(), guard=guard,
                           channels=[(c, CHANNEL_LABELS[c]) for c in CHANNELS],
                           priorities=[(p, PRIORITY_LABELS[p]) for p in PRIORITIES],
                           form=request.form), (422 if error or guard else 200)


@bp.route("/orders/<int:order_id>")
@allow(*STAFF)
def order_page(order_id: int):
    return _order_page(_order(order_id))


def _act(order_id: int, action: Any) -> Any:
    try:
        action(_order(order_id))
    except (NotFound, Forbidden):
        raise
    except DomainError as err:
        flash(err.message + ("" if not err.fields else " " + "; ".join(f"{k}: {v}" for k, v in err.fields.items())),
              "error")
        return redirect(url_for("dispatch.order_page", order_id=order_id)), 303
    return redirect(url_for("dispatch.order_page", order_id=order_id))


def _version() -> Any:
    return parse_int(request.form.get("version"), "version", lo=0, hi=MAX_BIGINT)


@bp.route("/orders/<int:order_id>/transition", methods=["POST"])
@allow(*STAFF)
def order_transition(order_id: int):
    form = request.form
    payload = {"resolution_code": form.get("resolution_code")} if form.get("action") == "resolve" else {}
    return _act(order_id, lambda o: services.transition(o, form.get("action"), _actor(), note=form.get("note") or "",
                                                        expected_version=_version(), **payload))


@bp.route("/orders/<int:order_id>/assign", methods=["POST"])
@allow(*STAFF)
def order_assign(order_id: int):
    form = request.form
    tech = form.get("technician_id")
    return _act(order_id, lambda o: services.assign(
        o, _actor(), technician_id=parse_id(tech, "technician_id"),
        station_code=form.get("station") or None, reason=form.get("reason") or "", expected_version=_version()))


@bp.route("/orders/<int:order_id>/location", methods=["POST"])
@allow(*STAFF)
def order_location(order_id: int):
    form = request.form
    return _act(order_id, lambda o: services.pin_location(o, form.get("lat"), form.get("lon"), _actor(),
                                                          expected_version=_version()))


@bp.route("/orders/<int:order_id>/reveal", methods=["POST"])
@allow(*STAFF)
def reveal_phone(order_id: int):
    """The customer's full number, for calling them; each reveal is audited."""
    order = _order(order_id)
    return _order_page(order, phone=core_customers.reveal_contact(order.customer, "phone"))


@bp.route("/customers/<int:customer_id>")
@allow(*STAFF)
def customer_page(customer_id: int):
    customer = services.customer_for(customer_id, _actor())
    orders = services.customer_history(customer.id, _actor())
    return render_template("orders/customer.html", customer=customer, orders=orders,
                           repeats=services.repeat_addresses(orders), locale=str(get_locale() or ""))


@bp.route("/orders/import", methods=["GET", "POST"])
@allow(*STAFF)
@upload(text=True)
def import_orders():
    """Upload a CSV of orders; nothing is imported unless every row is good."""
    report, error = None, None
    if request.method == "POST":
        upload = request.files.get("file")
        try:
            if upload is None or not upload.filename:
                raise Invalid(_("Choose a CSV file."), {"file": "required"})
            report = services.import_orders_csv(upload.read(), _actor())
        except DomainError as err:
            error = err
        else:
            if report.ok:
                flash(_("%(n)d orders imported.", n=report.imported), "success")
                return redirect(url_for("dispatch.index", queue="open"))
    status = 422 if error or (report and not report.ok) else 200
    return render_template("orders/import.html", report=report, error=error), status


# --------------------------------------------------------------------------- job categories (admins)

CATEGORY_FIELDS = ("code", "name", "name_zh", "kind", "service_line", "skill", "new_skill", "weight", "service_minutes")


def _category_form(category: Any, values: dict[str, Any], errors: dict[str, str], status: int = 200,
                   error: DomainError | None = None):
    skills = category_services.known_skills()
    return render_template("orders/category_edit.html", category=category, values=values, errors=errors,
                           error=error, kinds=list(KIND_LABELS.items()),
                           lines=list(category_services.SERVICE_LINE_LABELS.items()),
                           skills=[(s, category_services.skill_label(s)) for s in skills],
                           new_skill=category_services.NEW_SKILL, limits=category_services), status


def _save_category(category_id: int | None):
    """GET: the form; POST: save (back to the list) or the form again with every error and the input."""
    category = category_services.get_category(category_id) if category_id is not None else None
    if request.method == "GET":
        return _category_form(category, category_services.form_values(category), {})
    values: dict[str, Any] = {k: request.form.get(k, "") for k in CATEGORY_FIELDS}
    values["is_active"] = "is_active" in request.form
    try:
        saved = category_services.save_category(values, _actor(), category_id)
    except DomainError as err:
        if category is not None:  # the code is the category's own, whatever was posted
            values["code"] = category.code
        return _category_form(category, values, err.fields or {}, err.status, error=err)
    flash(_("Category %(code)s saved.", code=saved.code), "success")
    return redirect(url_for("dispatch.categories"))


@bp.route("/categories")
@allow("admin")
def categories():
    return render_template("orders/categories.html", categories=category_services.all_categories(),
                           kinds=KIND_LABELS, lines=category_services.SERVICE_LINE_LABELS,
                           skill_label=category_services.skill_label, locale=str(get_locale() or ""))


@bp.route("/categories/new", methods=["GET", "POST"])
@allow("admin")
def category_new():
    return _save_category(None)


@bp.route("/categories/<int:category_id>", methods=["GET", "POST"])
@allow("admin")
def category_edit(category_id: int):
    return _save_category(category_id)
