"""The station supervisor's board, the incident pages and the admins' SLA policy pages.

/dispatch/board: a station's open orders by deadline, escalations awaiting acknowledgement (one
row per order, acknowledged a row or a selection at a time), open incidents. A station
supervisor sees their station; centre managers, admins and dispatchers choose a station (or all).
/dispatch/sla-policies: restore hours, warning lead and escalation delay by order kind and segment.
"""
from __future__ import annotations

import math
from typing import Any

import folium
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.access import allow, station_scope
from core.customers import SEGMENT_LABELS, SEGMENTS
from core.db import now
from core.errors import DomainError
from core.geo import EARTH_RADIUS_M
from core.maps import TextTooltip, render_map_parts
from core.security import csp_nonce
from core.stations import Station, all_stations, station_by_code
from dispatch.deadlines.services import incidents as incident_services
from dispatch.deadlines.services import policies as policy_services
from dispatch.deadlines.services import sla
from dispatch.orders.models import KIND_LABELS

bp = Blueprint("dispatch_board", __name__, url_prefix="/dispatch", template_folder="templates")

STAFF = ("supervisor", "dispatcher", "admin")


def _board_station() -> Station | None:
    """The supervisor's own station; for everyone else the ?station= filter (None: all stations)."""
    if station_scope(current_user) is not None:
        return current_user.station
    code = request.args.get("station", "")
    return station_by_code(code) if code else None


def _back(default: str) -> Any:
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/dispatch/") else default)


@bp.route("/board")
@allow(*STAFF)
def index():
    station = _board_station()
    station_id = station.id if station else None
    may_choose = station_scope(current_user) is None
    open_incidents = incident_services.incidents_list(station_id)
    at = now()
    return render_template(
        "deadlines/board.html", station=station, orders=sla.orders_by_deadline(station_id, at), at=at,
        escalations=sla.escalation_groups(current_user, station_id, at), incidents=open_incidents,
        incident_counts=incident_services.order_counts([i.id for i in open_incidents]),
        stations=all_stations() if may_choose else [], may_choose=may_choose)


@bp.route("/board/escalations/<int:alert_id>/acknowledge", methods=["POST"])
@allow(*sla.ACK_ROLES)
def acknowledge(alert_id: int):
    alert = sla.acknowledge(alert_id, current_user, request.form.get("note", ""))
    flash(_("Escalation of %(number)s acknowledged.", number=alert.order.number), "success")
    return _back(url_for("dispatch_board.index"))


@bp.route("/board/escalations/acknowledge", methods=["POST"])
@allow(*sla.ACK_ROLES)
def acknowledge_selected():
    """The board's selection ("alerts", checked rows) or one row's button ("only"): each value holds
    the ids of a row's escalations."""
    values = [request.form["only"]] if "only" in request.form else request.form.getlist("alerts")
    try:
        result = sla.acknowledge_many(sla.selected_ids(values), current_user, request.form.get("note", ""))
    except DomainError as err:  # nothing selected, or far too much: nothing changes
        flash(err.message, "error")
        return _back(url_for("dispatch_board.index"))
    if result.acknowledged:
        flash(_("Escalations acknowledged: %(count)d.", count=len(result.acknowledged)), "success")
    if result.already:
        flash(_("Acknowledged already by someone else: %(count)d.", count=result.already), "error")
    if result.refused:
        flash(_("Not acknowledged: %(count)d of the selected escalations do not exist or are not "
                "addressed to you.", count=result.refused), "error")
    return _back(url_for("dispatch_board.index"))


@bp.route("/incidents")
@allow(*STAFF)
def incidents():
    station = _board_station()
    rows = incident_services.incidents_list(station.id if station else None, open_only=False)
    return render_template("deadlines/incidents.html", incidents=rows,
                           counts=incident_services.order_counts([i.id for i in rows]),
                           settings=incident_services.settings())


def _incident_map(incident: Any, orders: list[Any]) -> dict[str, Any]:
    m = folium.Map(location=[incident.lat, incident.lon], zoom_start=15, tiles=None, control_scale=True)
    from flask import current_app
    if current_app.config.get("TILES_URL"):
        folium.TileLayer(tiles=current_app.config["TILES_URL"],
                         attr=current_app.config.get("TILES_ATTRIBUTION", ""), max_zoom=19).add_to(m)
    folium.Circle([incident.lat, incident.lon], radius=incident.radius_m, color="#b42318", fill=True,
                  fill_opacity=0.08, tooltip=TextTooltip(_("Incident area"))).add_to(m)
    dlat = math.degrees(incident.radius_m / EARTH_RADIUS_M)
    dlon = dlat / max(math.cos(math.radians(incident.lat)), 1e-6)
    lats, lons = [incident.lat - dlat, incident.lat + dlat], [incident.lon - dlon, incident.lon + dlon]
    for order in orders:
        if order.lat is None:
            continue
        lats.append(order.lat)
        lons.append(order.lon)
        folium.CircleMarker([order.lat, order.lon], radius=5, color="#1d4ed8", weight=1, fill=True,
                            fill_opacity=0.8, tooltip=TextTooltip(f"{order.number} — {order.customer.name}")).add_to(m)
    m.fit_bounds([[min(lats), min(lons)], [max(lats), max(lons)]], padding=(20, 20))
    return {"parts": render_map_parts(m, csp_nonce(), static_url=url_for("static", filename=""))}


@bp.route("/incidents/<int:incident_id>")
@allow(*STAFF)
def incident(incident_id: int):
    item = incident_services.incident_for(incident_id, current_user)
    orders = incident_services.linked_orders(item, current_user)
    return render_template("deadlines/incident.html", incident=item, orders=orders,
                           incident_map=_incident_map(item, orders),
                           may_manage=incident_services.may_manage(item, current_user))


@bp.route("/incidents/<int:incident_id>/resolve", methods=["POST"])
@allow(*STAFF)
def resolve_incident(incident_id: int):
    result = incident_services.resolve_incident(incident_id, current_user, request.form.get("note", ""))
    flash(_("Incident resolved: %(resolved)d orders restored.", resolved=result["resolved"]), "success")
    return redirect(url_for("dispatch_board.incident", incident_id=incident_id))


@bp.route("/incidents/settings", methods=["GET", "POST"])
@allow("admin")
def incident_settings():
    error = None
    values: dict[str, Any] = {}
    if request.method == "POST":
        values = {k: request.form.get(k, "") for k in incident_services.LIMITS}
        try:
            incident_services.update_settings(values, current_user)
        except DomainError as err:
            error = err
        else:
            flash(_("Incident thresholds saved."), "success")
            return redirect(url_for("dispatch_board.incident_settings"))
    current = incident_services.settings()
    values = values or {k: getattr(current, k) for k in incident_services.LIMITS}
    return render_template("deadlines/incident_settings.html", values=values, error=error,
                           limits=incident_services.LIMITS), (422 if error else 200)


# --------------------------------------------------------------------------- SLA policies (admins)

def _policy_form(policy: Any, values: dict[str, Any], errors: dict[str, str], status: int = 200,
                 summary: str = ""):
    return render_template("deadlines/sla_policy_edit.html", policy=policy, values=values, errors=errors,
                           summary=summary,
                           kinds=KIND_LABELS, segments=[(s, SEGMENT_LABELS[s]) for s in SEGMENTS],
                           max_hours=int(policy_services.MAX_HOURS)), status


def _save_policy(policy_id: int | None):
    """GET: the form; POST: save (back to the list) or the form again with every error and the input."""
    policy = policy_services.get_policy(policy_id) if policy_id is not None else None
    if request.method == "GET":
        return _policy_form(policy, policy_services.form_values(policy), {})
    values = {k: request.form.get(k, "") for k in ("kind", "segment", *policy_services.HOURS_FIELDS)}
    values["wait_parts_pauses"] = "wait_parts_pauses" in request.form
    try:
        saved = policy_services.save_policy(values, current_user, policy_id)
    except DomainError as err:
        if policy is not None:  # kind and segment are the policy's own, whatever was posted
            values.update(kind=policy.kind, segment=policy.segment or "")
        return _policy_form(policy, values, err.fields, err.status, summary=err.message)
    flash(_("SLA policy saved: %(kind)s, %(segment)s.", kind=KIND_LABELS[saved.kind],
            segment=SEGMENT_LABELS[saved.segment] if saved.segment else _("every segment")), "success")
    return redirect(url_for("dispatch_board.sla_policies"))


@bp.route("/sla-policies")
@allow("admin")
def sla_policies():
    return render_template("deadlines/sla_policies.html", policies=policy_services.policies(),
                           kinds=KIND_LABELS, segments=SEGMENT_LABELS)


@bp.route("/sla-policies/new", methods=["GET", "POST"])
@allow("admin")
def sla_policy_new():
    return _save_policy(None)


@bp.route("/sla-policies/<int:policy_id>", methods=["GET", "POST"])
@allow("admin")
def sla_policy_edit(policy_id: int):
    return _save_policy(policy_id)
