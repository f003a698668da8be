"""Admin pages: users, stations and their areas, customers, the audit log."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from core import audit, auth, customers, stations
from core.access import allow
from core.errors import DomainError
from core.extensions import db
from core.forms import CsvImportForm, CustomerForm, StationForm, UserForm
from core.parse import parse_date, parse_id
from core.security import upload

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
    return [("", "—")] + [(str(s.id), f"{s.code} {s.name}") for s in stations.all_stations()]


def _user_form(user=None) -> UserForm:
    form = UserForm(obj=user)
    form.role.choices = [(r, str(auth.ROLE_LABELS[r])) for r in auth.ROLES]
    form.station.choices = _station_choices()
    if user is not None and request.method == "GET":
        form.station.data = str(user.station_id or "")
        form.skills.data = ", ".join(user.skills or [])
    return form


@bp.route("/users")
@allow("admin")
def users():
    page = db.paginate(auth.users_query(role=request.args.get("role") or None, q=request.args.get("q")),
                       per_page=50, error_out=False)
    return render_template("core/admin_users.html", page=page, roles=auth.ROLES, labels=auth.ROLE_LABELS)


@bp.route("/users/new", methods=["GET", "POST"])
@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@allow("admin")
def user_edit(user_id: int | None = None):
    user = auth.get_user(user_id) if user_id else None
    if user_id and user is None:
        return render_template("error.html", status=404, message=_("No such user.")), 404
    form = _user_form(user)
    error = None
    if form.validate_on_submit():
        skills = [s.strip() for s in (form.skills.data or "").split(",") if s.strip()]
        try:
            station_id = parse_id(form.station.data, "station")  # a select's value, but any text can come
            station = stations.get_station(station_id) if station_id else None
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
        except DomainError as err:
            error = err
    elif request.method == "POST":
        error = DomainError(_("Please correct the marked fields."), {k: "; ".join(v) for k, v in form.errors.items()})
    return render_template("core/admin_user_edit.html", form=form, user=user, error=error), (422 if error else 200)


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
        import json
        form.coverage.data = json.dumps(station.coverage)
    error = None
    if request.method == "POST":
        if form.validate_on_submit() or set(form.errors) <= {"lat", "lon", "coverage"}:
            fields = dict(code=form.code.data, name=form.name.data, address=form.address.data,
                          district=form.district.data, lat=request.form.get("lat"), lon=request.form.get("lon"),
                          coverage=request.form.get("coverage") or None)
            try:
                if station is None:
                    station = stations.create_station(**fields)
                else:
                    stations.update_station(station, **fields)
                flash(_("Station %(code)s saved.", code=station.code), "success")
                return redirect(url_for("admin.station_list"))
            except DomainError as err:
                error = err
        else:
            error = DomainError(_("Please correct the marked fields."),
                                {k: "; ".join(v) for k, v in form.errors.items()})
    neighbours = [s for s in stations.all_stations() if station is None or s.id != station.id]
    area_map = coverage_editor_map(station, neighbours)
    return render_template("core/admin_station_edit.html", form=form, station=station, error=error,
                           area_map=area_map), (422 if error else 200)


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
                           tooltip=TextTooltip(f"{n.code} {n.name}")).add_to(layer)
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
    if form.validate_on_submit():
        data = {f: getattr(form, f).data for f in ("account_no", "name", "phone", "address", "district",
                                                   "lat", "lon", "segment", "services")}
        try:
            if customer is None:
                customer = customers.create_customer(**data)
            else:
                customers.update_customer(customer, **data)
            flash(_("Customer %(acc)s saved.", acc=customer.account_no), "success")
            return redirect(url_for("admin.customer_list", q=customer.account_no))
        except DomainError as err:
            error = err
    elif request.method == "POST":
        error = DomainError(_("Please correct the marked fields."), {k: "; ".join(v) for k, v in form.errors.items()})
    return render_template("core/admin_customer_edit.html", form=form, customer=customer, error=error), \
        (422 if error else 200)


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
    return Response(customers.export_customers_csv(rows), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=customers.csv"})


# --- audit -----------------------------------------------------------------

def _date_arg(name: str) -> datetime | None:
    """The start of a day (YYYY-MM-DD, 2000–2100) in the operator's zone; Invalid for anything else."""
    from zoneinfo import ZoneInfo
    day = parse_date(request.args.get(name), name)
    if day is None:
        return None
    return datetime.combine(day, time(), ZoneInfo(current_app.config["TIMEZONE"]))


@bp.route("/audit")
@allow("admin")
def audit_log():
    until = _date_arg("until")
    query = audit.search(action=request.args.get("action") or None, actor=request.args.get("actor") or None,
                         object_type=request.args.get("object_type") or None,
                         object_id=request.args.get("object_id") or None, since=_date_arg("since"),
                         until=until + timedelta(days=1) if until else None)
    page = db.paginate(query, per_page=100, error_out=False)
    return render_template("core/admin_audit.html", page=page, args=request.args)
