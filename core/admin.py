"""Admin pages: users, stations and their areas, customers, the audit log."""
from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core import audit, auth, csvsafe, customers, stations
from core.access import allow
from core.errors import DomainError, Invalid
from core.extensions import db
from core.forms import SKILL_LABELS, CsvImportForm, CustomerForm, StationForm, UserForm
from core.parse import MAX_YEAR, MIN_YEAR, parse_date, parse_id
from core.security import upload
from core.sorting import parse_sort

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")


@bp.route("/")
@allow("admin")
def index():
    counts = {
        "users": db.session.scalar(db.select(db.func.count()).select_from(auth.User)),
        "stations": db.session.scalar(db.select(db.func.count()).select_from(stations.Station)),
        "customers": db.session.scalar(db.select(db.func.count()).select_from(customers.Customer)),
    }
    return render_template("core/admin_index.html", counts=counts)


# --- users -----------------------------------------------------------------

def _station_choices():
    return [("", "—")] + [(str(s.id), f"{s.code} {s.display_name}") for s in stations.all_stations()]


def managed_skills() -> list[str]:
    """The skills a technician may hold: those the active job categories require.

    Read from dispatch's categories table by name, so that core imports no domain package.
    """
    categories = sa.table("categories", sa.column("skill"), sa.column("is_active"))
    return sorted(set(db.session.scalars(sa.select(categories.c.skill).where(categories.c.is_active.is_(True)))))


def _skill_choices(known: list[str], held: list[str]) -> list[tuple[str, str]]:
    """The picker: the managed skills, then any the user holds that no category needs (to untick)."""
    choices = [(s, str(SKILL_LABELS.get(s, s))) for s in known]
    choices += [(s, _("%(skill)s (not a known skill)", skill=s)) for s in held if s not in known]
    return choices


def _user_form(user=None) -> UserForm:
    form = UserForm(obj=user)
    form.is_new = user is None
    form.role.choices = [(r, str(auth.ROLE_LABELS[r])) for r in auth.ROLES]
    form.station.choices = _station_choices()
    known = managed_skills()
    form.known_skills = frozenset(known)
    if user is not None and request.method == "GET":
        form.station.data = str(user.station_id or "")
        form.skills.data = list(user.skills or [])
    held = [s for s in (form.skills.data or []) if isinstance(s, str)]
    form.skills.choices = _skill_choices(known, list(dict.fromkeys([*(user.skills if user else []), *held])))
    return form


_CODE = re.compile(r"[a-z]+(?:_[a-z]+)*")  # a service's field code ("taken", "not_integer"), not a sentence


def mark_fields(form: Any, err: DomainError) -> DomainError | None:
    """Put a service's refusal beside the form's fields; return it if something is left for the summary.

    Services name fields with a message or a code; for a code the refusal's own message is the text.
    A refusal naming no field of the form stays whole (the summary shows its message).
    """
    placed = False
    for name, message in (err.fields or {}).items():
        field = form._fields.get(name)
        if field is None or name == "csrf_token":
            continue
        text = err.message if _CODE.fullmatch(str(message)) else str(message)
        if name in ("lat", "lon"):  # core.geo explains a bad point in English only
            limit = 90 if name == "lat" else 180
            text = _("a number from %(lo)s to %(hi)s", lo=-limit, hi=limit)
        elif name == "coverage":  # ... and a bad area too
            text = _coverage_message(text)
        field.errors = [text]  # the service's word on a field stands in for the form's own
        placed = True
    return None if placed else err


def _coverage_message(english: str) -> str:
    """core.geo's refusals of an area, in the user's language."""
    known = {
        "The coverage area is not valid GeoJSON.": _("The coverage area is not valid GeoJSON."),
        "Draw exactly one area.": _("Draw exactly one area."),
        "The coverage area must be a GeoJSON Polygon or MultiPolygon.":
            _("The coverage area must be a GeoJSON Polygon or MultiPolygon."),
        "The coverage area's coordinates are malformed.": _("The coverage area's coordinates are malformed."),
        "The coverage area is empty.": _("The coverage area is empty."),
    }
    if english in known:
        return known[english]
    if english.startswith("The coverage area is outside"):
        return _("The coverage area is outside longitude −180…180 / latitude −90…90 (are longitude and "
                 "latitude swapped? GeoJSON is [lon, lat]).")
    if english.startswith("The coverage area is not a valid polygon"):
        return _("The coverage area is not a valid polygon (its edges cross or touch).")
    return english


def save_whole(form: Any, save: Any, *, service_checks: tuple[str, ...] = (),
               more_checks: Any = None) -> tuple[Any, DomainError | None]:
    """Submit a form so that one try shows every mistake: the form's own checks and the service's.

    The service runs even when the form found mistakes (services check every field at once); then
    nothing is kept: an Invalid is raised, so the request rolls back (core.errors). `service_checks`
    names fields only the service judges (the form's own message is dropped for those); `more_checks()`
    may add errors to the form's fields (a taken code) before the service runs. Returns (what the service returned, None) or (None, the refusal left for the summary, if any).
    """
    form.validate_on_submit()
    for name in service_checks:
        form[name].errors = []
    if more_checks is not None:
        more_checks()
    try:
        result = save()
        if any(f.errors for f in form):
            raise Invalid(_("Please correct the marked fields."))
        return result, None
    except DomainError as err:
        if err.status != 422 and not err.fields:
            raise
        return None, mark_fields(form, err)


@bp.route("/users")
@allow("admin")
def users():
    station_code = sa.select(stations.Station.code).where(stations.Station.id == auth.User.station_id) \
        .correlate(auth.User).scalar_subquery()
    sort = parse_sort(request.args.get("sort"), {
        "username": auth.User.username, "full_name": auth.User.full_name, "role": auth.User.role,
        "station": station_code, "status": auth.User.is_enabled}, "username")
    stmt = auth.users_query(role=request.args.get("role") or None, q=request.args.get("q"))
    page = db.paginate(sort.apply(stmt, auth.User.id), per_page=50, error_out=False)
    return render_template("core/admin_users.html", page=page, roles=auth.ROLES, labels=auth.ROLE_LABELS,
                           sort=sort, skill_labels=SKILL_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@allow("admin")
def user_edit(user_id: int | None = None):
    """Every mistake at once, each beside its field, what was typed kept (the form checks the whole account)."""
    user = auth.get_user(user_id) if user_id else None
    if user_id and user is None:
        return render_template("error.html", status=404, message=_("No such user.")), 404
    form = _user_form(user)
    error = None
    if form.validate_on_submit():
        try:
            station_id = form.station_id()
            station = stations.get_station(station_id) if station_id else None
            skills = list(form.skills.data or [])
            if user is None:
                user = auth.create_user(form.username.data, form.role.data, form.password.data or "",
                                        station=station, full_name=form.full_name.data or "", skills=skills)
            else:
                auth.update_user(user, full_name=form.full_name.data or "", role=form.role.data,
                                 station=station, skills=skills)
                if form.password.data:
                    auth.set_password(user, form.password.data)
                if bool(form.is_enabled.data) != user.is_enabled:
                    auth.set_enabled(user, bool(form.is_enabled.data))
            flash(_("Saved."), "success")
            return redirect(url_for("admin.users"))
        except DomainError as err:  # the request rolls back (core.errors)
            if err.status != 422 and not err.fields:
                raise
            error = mark_fields(form, err)
    refused = request.method == "POST"
    return render_template("core/admin_user_edit.html", form=form, user=user, error=error), (422 if refused else 200)


# --- stations --------------------------------------------------------------

@bp.route("/stations")
@allow("admin")
def station_list():
    return render_template("core/admin_stations.html", stations=stations.all_stations())


@bp.route("/stations/new", methods=["GET", "POST"])
@bp.route("/stations/<int:station_id>", methods=["GET", "POST"])
@allow("admin")
def station_edit(station_id: int | None = None):
    station = stations.get_station(station_id) if station_id else None
    form = StationForm(obj=station)
    if station is not None and request.method == "GET":
        form.coverage.data = json.dumps(station.coverage)
    error = None
    if request.method == "POST":
        fields = dict(code=form.code.data, name=form.name.data, name_zh=form.name_zh.data, address=form.address.data,
                      district=form.district.data, lat=request.form.get("lat"), lon=request.form.get("lon"),
                      coverage=request.form.get("coverage") or None)

        def code_taken():  # said with the other mistakes, not on the next try
            code = (form.code.data or "").strip().upper()
            taken = stations.station_by_code(code) if code else None
            if taken is not None and taken is not station:
                form.code.errors = [_("A station with code %(code)s exists already.", code=code)]

        def save():
            return (stations.create_station(**fields) if station is None
                    else stations.update_station(station, **fields))
        saved, error = save_whole(form, save, service_checks=("lat", "lon", "coverage"), more_checks=code_taken)
        if saved is not None:
            flash(_("Station %(code)s saved.", code=saved.code), "success")
            return redirect(url_for("admin.station_list"))
    neighbours = [s for s in stations.all_stations() if station is None or s.id != station.id]
    area_map = coverage_editor_map(station, neighbours)
    return render_template("core/admin_station_edit.html", form=form, station=station, error=error,
                           area_map=area_map), (422 if request.method == "POST" else 200)


def coverage_editor_map(station, neighbours) -> dict:
    """A folium map with the neighbours' areas and a Draw toolbar for this station's area."""
    import folium
    from folium.plugins import Draw

    from core.maps import TextTooltip, render_map_parts
    from core.security import csp_nonce

    center = [station.lat, station.lon] if station else (
        [neighbours[0].lat, neighbours[0].lon] if neighbours else [22.54, 114.06])
    tiles = current_app.config.get("TILES_URL") or None
    m = folium.Map(location=center, zoom_start=13, tiles=None, max_zoom=19, control_scale=True)
    if tiles:
        folium.TileLayer(tiles=tiles, attr=current_app.config.get("TILES_ATTRIBUTION", ""), max_zoom=19).add_to(m)
    if neighbours:
        layer = folium.FeatureGroup(name=_("Neighbouring areas"))
        for n in neighbours:
            folium.GeoJson(n.coverage, style_function=lambda _f: {"color": "#5d6878", "weight": 1, "fillOpacity": 0.1},
                           tooltip=TextTooltip(f"{n.code} {n.display_name}")).add_to(layer)
        layer.add_to(m)
    draw = Draw(export=False, draw_options={"polyline": False, "rectangle": True, "circle": False, "marker": False,
                                            "circlemarker": False, "polygon": {"allowIntersection": False}},
                edit_options={"edit": True, "remove": True})
    draw.add_to(m)
    folium.LayerControl().add_to(m)
    parts = render_map_parts(m, csp_nonce(), static_url=url_for("static", filename=""))
    return {"parts": parts, "map_name": m.get_name(), "draw_name": draw.get_name()}


@bp.route("/stations/check-area", methods=["POST"])
@allow("admin")
def station_check_area():
    from core.apiutil import json_body
    data = json_body()
    exclude = parse_id(data.get("station_id"), "station_id")
    return stations.check_area(data.get("coverage"), exclude_station_id=exclude)


# --- customers -------------------------------------------------------------

def _customer_form(customer=None) -> CustomerForm:
    form = CustomerForm(obj=customer)
    form.segment.choices = [(s, str(customers.SEGMENT_LABELS[s])) for s in customers.SEGMENTS]
    form.services.choices = [(s, str(customers.SERVICE_LABELS[s])) for s in customers.SERVICES]
    return form


@bp.route("/customers")
@allow("admin")
def customer_list():
    q = request.args.get("q", "")
    page = db.paginate(customers.search_customers(q), per_page=50, error_out=False)
    return render_template("core/admin_customers.html", page=page, q=q, import_form=CsvImportForm())


@bp.route("/customers/new", methods=["GET", "POST"])
@bp.route("/customers/<int:customer_id>", methods=["GET", "POST"])
@allow("admin")
def customer_edit(customer_id: int | None = None):
    customer = customers.get_customer(customer_id) if customer_id else None
    form = _customer_form(customer)
    error = None
    if request.method == "POST":
        data = {f: getattr(form, f).data for f in ("account_no", "name", "phone", "address", "district",
                                                   "lat", "lon", "segment", "services")}

        def account_taken():  # said with the other mistakes, not on the next try
            acc = (form.account_no.data or "").strip()
            taken = customers.customer_by_account(acc) if acc else None
            if taken is not None and taken is not customer:
                form.account_no.errors = [_("Account %(acc)s exists already.", acc=acc)]

        def save():
            return (customers.create_customer(**data) if customer is None
                    else customers.update_customer(customer, **data))
        saved, error = save_whole(form, save, more_checks=account_taken)
        if saved is not None:
            flash(_("Customer %(acc)s saved.", acc=saved.account_no), "success")
            return redirect(url_for("admin.customer_list", q=saved.account_no))
    return render_template("core/admin_customer_edit.html", form=form, customer=customer, error=error), \
        (422 if request.method == "POST" else 200)


@bp.route("/customers/import", methods=["POST"])
@allow("admin")
@upload(text=True)
def customer_import():
    form = CsvImportForm()
    if not form.validate_on_submit():
        flash(_("Choose a CSV file to import."), "error")
        return redirect(url_for("admin.customer_list"))
    try:
        report = customers.import_customers_csv(form.file.data.read(), only_good=bool(form.only_good.data))
    except DomainError as err:
        return render_template("core/admin_import_report.html", report=None, error=err), 422
    return render_template("core/admin_import_report.html", report=report, error=None), (200 if report.ok or report.imported else 422)


@bp.route("/customers/export.csv")
@allow("admin")
def customer_export():
    rows = db.session.scalars(customers.search_customers(request.args.get("q")))
    audit.record("customer.export", "customer", None)
    return csvsafe.csv_response(customers.export_customers_csv(rows), "customers.csv")


# --- audit -----------------------------------------------------------------

def _date_arg(name: str, errors: dict[str, str]) -> datetime | None:
    """The start of a day (YYYY-MM-DD, 2000–2100) in the operator's zone; a bad one goes into `errors`."""
    from zoneinfo import ZoneInfo
    try:
        day = parse_date(request.args.get(name), name)
    except Invalid:  # explained beside the field below (the request is refused: it reads only)
        errors[name] = _("a date YYYY-MM-DD from %(lo)s to %(hi)s", lo=MIN_YEAR, hi=MAX_YEAR)
        return None
    if day is None:
        return None
    return datetime.combine(day, time(), ZoneInfo(current_app.config["TIMEZONE"]))


@bp.route("/audit")
@allow("admin")
def audit_log():
    """A bad filter is explained in the filter form, every bad field beside itself (422, no rows)."""
    errors: dict[str, str] = {}
    since, until = _date_arg("since", errors), _date_arg("until", errors)
    if since and until and since > until:
        errors["since"] = _("must not be after the last day")
    object_type = (request.args.get("object_type") or "").strip()
    object_ids = _object_arg(object_type, (request.args.get("object_id") or "").strip(), errors)
    kinds = [(code, str(kind.label)) for code, kind in audit.OBJECT_KINDS.items()]
    if errors:
        return render_template("core/admin_audit.html", page=None, entries=[], args=request.args, errors=errors,
                               kinds=kinds), 422
    query = audit.search(action=request.args.get("action") or None, actor=request.args.get("actor") or None,
                         object_type=object_type or None, object_id=object_ids, since=since,
                         until=until + timedelta(days=1) if until else None)
    page = db.paginate(query, per_page=100, error_out=False)
    return render_template("core/admin_audit.html", page=page, entries=audit.readable(list(page.items)),
                           args=request.args, errors={}, kinds=kinds)


def _object_arg(object_type: str, text: str, errors: dict[str, str]) -> str | list[str] | None:
    """The object filter: an id, or (with a type that has codes or numbers) a code, number or username."""
    if object_type and object_type not in audit.OBJECT_KINDS:
        errors["object_type"] = _("Choose an object type from the list.")
        return None
    if not text:
        return None
    if len(text) > 80:
        errors["object_id"] = _("At most %(n)d characters.", n=80)
        return None
    if text.isascii() and text.isdigit():
        return text
    if not object_type:
        errors["object_id"] = _("Choose the object type to find an object by its code, number or name; "
                                "without a type, give its id.")
        return None
    kind = audit.OBJECT_KINDS[object_type]
    if not kind.lookup:
        errors["object_id"] = _("Give the id (a number) of the %(kind)s.", kind=str(kind.label))
        return None
    ids = audit.find_object_ids(object_type, text)
    if not ids:
        errors["object_id"] = _("No %(kind)s is called “%(text)s”.", kind=str(kind.label), text=text)
        return None
    return ids
