"""Stock keepers' pages: stock, moves, counts, catalogue, units, loans, the consumption report."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from core import csvsafe, customers, stations
from core.access import allow, station_scope
from core.errors import DomainError, Invalid
from core.extensions import db
from core.i18n import current_language
from core.parse import parse_date
from core.security import upload
from inventory import services
from inventory.models import CATEGORIES, CATEGORY_LABELS, MOVE_LABELS, MOVE_TYPES, UNIT_STATUS_LABELS, StockLevel, \
    UNITS, item_name, unit_label
from inventory.services import browse

bp = Blueprint("inventory", __name__, url_prefix="/inventory", template_folder="templates")


@bp.app_template_global("item_name")
def _item_name(name: str, name_zh: str | None) -> str:
    """An item's name in the reader's language, for pages that read rows rather than items (the ledger)."""
    return item_name(name, name_zh, current_language())


bp.add_app_template_global(unit_label, "unit_label")

KEEPERS = ("stockkeeper", "admin")
VIEWERS = ("stockkeeper", "admin", "supervisor")
PAGE_MOVES = ("receive", "transfer", "repair_out", "repair_in", "scrap", "return")


def _filters() -> dict:
    args = request.args
    station = args.get("station") or ""
    return {"location": (args.get("location") or "").strip(), "sku": (args.get("sku") or "").strip(),
            "category": args.get("category") if args.get("category") in CATEGORIES else "",
            "station": station, "low": args.get("low") == "1"}


def _levels_stmt(f: dict):
    st = stations.station_by_code(f["station"]) if f["station"] else None
    return services.levels_query(current_user, location=f["location"] or None, sku=f["sku"] or None,
                                 category=f["category"] or None, low_only=f["low"],
                                 station_id=st.id if st else None)


@bp.route("/")
@allow(*VIEWERS, "technician")
def index():
    services.ensure_locations()
    f = _filters()
    page = db.paginate(_levels_stmt(f), per_page=100, error_out=False)
    suggestions = _suggestions(page.items)
    sees_all = services.visible_location_ids(current_user) is None
    low_count = db.session.scalar(db.select(db.func.count()).select_from(
        _levels_stmt(dict(f, low=True)).order_by(None).subquery()))
    return render_template("inventory/index.html", page=page, f=f, categories=CATEGORY_LABELS,
                           stations=stations.all_stations() if sees_all else [], suggestions=suggestions,
                           may_move=current_user.role in KEEPERS, low_count=low_count,
                           places=_place_codes(), items=[(i.sku, f"{i.sku} · {_item_name(i.name, i.name_zh)}")
                                                         for i in services.all_items()])


def _place_codes() -> list[tuple[str, str]]:
    """The stock-level filter's places by code (what its query string takes), in the viewer's scope."""
    return [(loc.code, f"{loc.code} · {loc.name}") for loc in browse.filter_places(current_user)]


def _suggestions(levels: list[StockLevel]) -> dict[int, str]:
    """For each low level: a transfer from the station's store (vans) or a purchase (stores)."""
    out: dict[int, str] = {}
    for lv in levels:
        need = lv.suggested_qty
        if not need:
            continue
        store = services.store_of(lv.location.station_id) if lv.location.kind == "van" else None
        spare = services.level_of(store, lv.item) - _store_reserve(store, lv) if store else 0
        if store is not None and spare > 0:
            out[lv.id] = _("Transfer %(n)d from %(code)s", n=min(need, spare), code=store.code)
        else:
            out[lv.id] = _("Order %(n)d %(unit)s", n=need, unit=lv.item.unit_label)
    return out


def _store_reserve(store, lv: StockLevel) -> int:
    """What a store keeps for itself before feeding vans: its own reorder point."""
    return db.session.scalar(db.select(StockLevel.reorder_point).where(
        StockLevel.location_id == store.id, StockLevel.item_id == lv.item_id)) or 0


@bp.route("/levels.csv")
@allow(*VIEWERS)
def export_levels():
    rows = db.session.scalars(_levels_stmt(_filters()))
    return csvsafe.csv_response(services.export_levels_csv(rows), "stock-levels.csv")


@bp.route("/levels/<int:level_id>/reorder", methods=["POST"])
@allow(*KEEPERS)
def set_reorder(level_id: int):
    level = services.set_reorder(level_id, request.form.get("reorder_point"), request.form.get("reorder_qty"),
                                 current_user)
    flash(_("Reorder point of %(sku)s at %(code)s saved.", sku=level.item.sku, code=level.location.code), "success")
    return redirect(url_for("inventory.index", location=level.location.code))


def _my_places() -> list:
    """The stores, vans and repair centre this keeper works with."""
    stmt = services.locations_query()
    if current_user.role != "admin":
        stmt = stmt.where(services.Location.id.in_(services.visible_location_ids(current_user) or {-1}))
    return [loc for loc in db.session.scalars(stmt) if loc.kind in ("store", "van", "repair")]


@bp.route("/moves/new", methods=["GET", "POST"])
@allow(*KEEPERS)
def move_form():
    services.ensure_locations()
    move_type = request.values.get("type") if request.values.get("type") in PAGE_MOVES else "receive"
    error, done = None, None
    form = request.form
    if request.method == "POST":
        serials = (form.get("serials") or "").splitlines()
        try:
            done = _do_move(move_type, form, serials)
            flash(ngettext("%(num)d move recorded.", "%(num)d moves recorded.", len(done)), "success")
            return redirect(url_for("inventory.move_form", type=move_type, to=form.get("to") or None,
                                    **{"from": form.get("from") or None}))
        except DomainError as err:
            error = err
    return render_template("inventory/move.html", move_type=move_type, types=PAGE_MOVES, labels=MOVE_LABELS,
                           items=services.all_items(), places=_my_places(), error=error,
                           form=form if request.method == "POST" else request.args), \
        (error.status if error else 200)


def _do_move(move_type: str, form, serials: list[str]) -> list:
    sku, source, target = form.get("sku") or None, form.get("from") or None, form.get("to") or None
    reason = form.get("reason") or ""
    if move_type == "receive":
        return services.receive_batch(sku or "", target or "", current_user, qty=form.get("qty"), serials=serials,
                                      reason=reason)
    clean = [s.strip() for s in serials if s.strip()]
    if clean:
        if len(set(s.upper() for s in clean)) != len(clean):
            raise Invalid(_("A serial number is scanned twice."), {"serials": "duplicate"})
        return [services.record_move(move_type, serial=s, source=source, target=target, reason=reason,
                                     faulty=form.get("faulty") == "1", actor=current_user) for s in clean]
    return [services.record_move(move_type, sku=sku, qty=form.get("qty"), source=source, target=target,
                                 reason=reason, actor=current_user)]


@bp.route("/count", methods=["GET", "POST"])
@allow(*KEEPERS)
def count():
    services.ensure_locations()
    code = request.values.get("location") or ""
    location = services.visible_location(current_user, code) if code else None  # another station's: 404
    error, result = None, None
    if request.method == "POST" and location is not None:
        counts = {k[len("count-"):]: v for k, v in request.form.items() if k.startswith("count-")}
        try:
            result = services.cycle_count(location.code, counts, request.form.get("reason") or "", current_user)
            flash(ngettext("Count saved: %(num)d adjustment.", "Count saved: %(num)d adjustments.", len(result)),
                  "success")
        except DomainError as err:
            error = err
    items = [i for i in services.all_items() if not i.is_serialized]
    levels = {i.id: services.level_of(location, i) for i in items} if location else {}
    units = [u for u in services.units_at(location) if services.may_see_unit(current_user, u)] if location else []
    return render_template("inventory/count.html", places=_my_places(), location=location, items=items,
                           levels=levels, units=units, error=error, result=result), (error.status if error else 200)


@bp.route("/count/import", methods=["POST"])
@allow(*KEEPERS)
@upload(text=True)
def count_import():
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise Invalid(_("Choose a CSV file to import."), {"file": "required"})
        moves = services.import_counts_csv(upload.read(), request.form.get("reason") or "", current_user)
    except DomainError as err:
        flash(err.message, "error")
        return redirect(url_for("inventory.count"))
    flash(ngettext("Count saved: %(num)d adjustment.", "Count saved: %(num)d adjustments.", len(moves)), "success")
    return redirect(url_for("inventory.count"))


@bp.route("/items")
@allow(*VIEWERS)
def items():
    q, category = request.args.get("q", ""), request.args.get("category", "")
    page = db.paginate(services.items_query(q, category if category in CATEGORIES else None), per_page=100,
                       error_out=False)
    return render_template("inventory/items.html", page=page, q=q, category=category, categories=CATEGORY_LABELS, units=UNITS,
                           may_edit=current_user.role in KEEPERS, error=None, form={})


@bp.route("/items", methods=["POST"])
@allow(*KEEPERS)
def item_save():
    f = request.form
    try:
        item = services.save_item(sku=f.get("sku") or "", name=f.get("name") or "", name_zh=f.get("name_zh") or "",
                                  category=f.get("category") or "",
                                  unit=f.get("unit") or "pcs", is_serialized=f.get("is_serialized") == "1",
                                  unit_cost=f.get("unit_cost") or 0, reorder_point=f.get("reorder_point") or 0,
                                  reorder_qty=f.get("reorder_qty") or 0,
                                  van_reorder_point=f.get("van_reorder_point") or 0, actor=current_user)
    except DomainError as err:
        page = db.paginate(services.items_query(), per_page=100, error_out=False)
        return render_template("inventory/items.html", page=page, q="", category="", categories=CATEGORY_LABELS, units=UNITS,
                               may_edit=True, error=err, form=f), err.status
    flash(_("Item %(sku)s saved.", sku=item.sku), "success")
    return redirect(url_for("inventory.items", q=item.sku))


@bp.route("/items.csv")
@allow(*VIEWERS)
def items_export():
    return csvsafe.csv_response(services.export_items_csv(services.all_items()), "items.csv")


@bp.route("/items/import", methods=["POST"])
@allow(*KEEPERS)
@upload(text=True)
def items_import():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a CSV file to import."), "error")
        return redirect(url_for("inventory.items"))
    try:
        n = services.import_items_csv(upload.read(), current_user)
    except DomainError as err:
        flash(err.message, "error")
        return redirect(url_for("inventory.items"))
    flash(ngettext("%(num)d item imported.", "%(num)d items imported.", n), "success")
    return redirect(url_for("inventory.items"))


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["TIMEZONE"])


@bp.route("/moves")
@allow(*VIEWERS)
def moves():
    f = browse.parse_filters(current_user, request.args, ledger=True)
    stmt, sort = browse.moves_sorted(browse.moves_query(current_user, f, _zone()), request.args.get("sort"))
    page = browse.paginate_rows(stmt) if f.ok else None
    return _moves_page(f, page, sort)


def _moves_page(f: browse.Filters, page, sort=None):
    opts = {"location": browse.options(f, "location", _place_choices(), _("All places")),
            "item": browse.options(f, "item", [(i.id, f"{i.sku} · {i.name}") for i in services.all_items()],
                                   _("All items")),
            "type": browse.options(f, "type", [(t, MOVE_LABELS[t]) for t in MOVE_TYPES], _("All moves"))}
    if sort is None:
        sort = browse.moves_sorted(browse.moves_query(current_user, f, _zone()), request.args.get("sort"))[1]
    return render_template("inventory/moves.html", f=f, page=page, options=opts, labels=MOVE_LABELS,
                           person=browse.person, sort=sort), (200 if f.ok else 422)


def _place_choices() -> list[tuple[int, str]]:
    return [(loc.id, f"{loc.code} · {loc.name}") for loc in browse.filter_places(current_user)]


@bp.route("/moves.csv")
@allow(*VIEWERS)
def moves_export():
    f = browse.parse_filters(current_user, request.args, ledger=True)
    if not f.ok:  # the page with the filters' messages, not a file of nothing
        return _moves_page(f, None)
    rows = db.session.execute(browse.moves_sorted(browse.moves_query(current_user, f, _zone()),
                                                  request.args.get("sort"))[0])
    return csvsafe.csv_response(browse.export_moves_csv(rows), "stock-moves.csv")


@bp.route("/units")
@allow(*VIEWERS, "technician")
def units():
    """The serial units the viewer may see, searched and filtered. The lookup box (`serial`, what a
    scanner types) opens the unit; a serial that is not there for the viewer is 404, whether it is
    missing or another station's, with the units whose serial holds it."""
    args = request.args.to_dict()
    lookup = "serial" in args and "q" not in args
    if lookup:
        args["q"] = args.pop("serial")
    f = browse.parse_filters(current_user, args, ledger=False)
    if f.ok and f.q:
        unit = services.unit_by_serial(f.q)
        if unit is not None and services.may_see_unit(current_user, unit):
            return redirect(url_for("inventory.unit_detail", serial=unit.serial))
    stmt, sort = browse.units_sorted(browse.units_query(current_user, f), request.args.get("sort"))
    page = browse.paginate(stmt) if f.ok else None
    not_found = lookup and page is not None and bool(f.q) and page.total == 0
    opts = {"status": browse.options(f, "status", UNIT_STATUS_LABELS.items(), _("Any status")),
            "location": browse.options(f, "location", _place_choices(), _("All places")),
            "item": browse.options(f, "item", [(i.id, f"{i.sku} · {i.name}") for i in services.all_items()
                                               if i.is_serialized], _("All items"))}
    status = 422 if not f.ok else (404 if not_found else 200)
    return render_template("inventory/unit_list.html", f=f, page=page, options=opts, not_found=not_found,
                           sort=sort), status


@bp.route("/units/<serial>")
@allow(*VIEWERS, "technician")
def unit_detail(serial: str):
    unit = services.get_unit(serial, current_user)
    history = services.unit_history(unit)
    return render_template("inventory/units.html", serial=unit.serial, unit=unit, history=history,
                           loans=services.unit_loans(unit),
                           numbers=browse.order_numbers(m.order_id for m in history))


@bp.route("/loans")
@allow(*VIEWERS)
def loans():
    overdue = request.args.get("overdue") == "1"
    stmt, sort = browse.loans_sorted(services.loans_query(overdue_only=overdue, viewer=current_user),
                                     request.args.get("sort"))
    page = db.paginate(stmt, per_page=100, error_out=False)
    return render_template("inventory/loans.html", page=page, overdue=overdue, now=services.now(), sort=sort,
                           may_edit=current_user.role in KEEPERS,
                           numbers=browse.order_numbers(loan.order_id for loan in page.items))


@bp.route("/loans", methods=["POST"])
@allow(*KEEPERS)
def loan_create():
    f = request.form
    customer = customers.customer_by_account(f.get("account_no") or "")
    try:
        if customer is None:
            raise Invalid(_("No customer with that account number."), {"account_no": "unknown"})
        loan = services.lend_loaner(browse.order_id_from(f.get("order")), customer.id,
                                    f.get("serial") or "", current_user)
    except DomainError as err:
        flash(err.message, "error")
        return redirect(url_for("inventory.loans"))
    flash(_("Loaner %(serial)s lent to %(acc)s.", serial=loan.unit.serial, acc=customer.account_no), "success")
    return redirect(url_for("inventory.loans"))


@bp.route("/loans/<int:loan_id>/return", methods=["POST"])
@allow(*KEEPERS)
def loan_return(loan_id: int):
    loan = services.get_loan(loan_id, current_user)
    try:
        services.return_loaner(loan.unit.serial, current_user, target=request.form.get("to") or None)
    except DomainError as err:
        flash(err.message, "error")
        return redirect(url_for("inventory.loans"))
    flash(_("Loaner %(serial)s is back.", serial=loan.unit.serial), "success")
    return redirect(url_for("inventory.loans"))


def _day(value: str | None, default: date) -> date:
    try:
        day = parse_date(value, "date")
    except Invalid:
        raise Invalid(_("Dates are YYYY-MM-DD."), {"date": "invalid"}) from None
    return default if day is None else day


@bp.route("/report")
@allow(*VIEWERS)
def report():
    zone = _zone()
    today = services.now().astimezone(zone).date()
    first = _day(request.args.get("from"), today - timedelta(days=30))
    last = _day(request.args.get("to"), today)  # inclusive: the whole last day counts
    group_by = request.args.get("group_by") or "item"
    st = stations.station_by_code(request.args.get("station") or "")
    scope = station_scope(current_user)
    if scope is not None:  # a station's people see their station's consumption only
        st = stations.get_station(scope)
    rows = services.consumption_report(since=datetime.combine(first, time(), zone),
                                       until=datetime.combine(last + timedelta(days=1), time(), zone),
                                       station_id=st.id if st else None, group_by=group_by)
    return render_template("inventory/report.html", rows=rows, group_by=group_by, start=first, end=last,
                           station=st, stations=stations.all_stations(), may_choose=scope is None)
