"""The station supervisor's board and the incident pages.

/dispatch/board: a station's open orders by deadline, escalations awaiting acknowledgement,
open incidents. A station supervisor sees their station; centre managers, admins and
dispatchers choose a station (or all).
"""
from __future__ import annotations

import math
from typing import Any

import folium
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.access import allow, station_scope
from core.errors import DomainError
from core.geo import EARTH_RADIUS_M
from core.maps import TextTooltip, render_map_parts
from core.security import csp_nonce
from core.stations import Station, all_stations, station_by_code
from dispatch.deadlines.services import incidents as incident_services
from dispatch.deadlines.services import sla

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
    return render_template(
        "deadlines/board.html", station=station, orders=sla.orders_by_deadline(station_id),
        escalations=sla.awaiting_acknowledgement(station_id), incidents=open_incidents,
        incident_counts=incident_services.order_counts([i.id for i in open_incidents]),
        stations=all_stations() if may_choose else [], may_choose=may_choose,
        may_ack=lambda alert: sla.may_acknowledge(alert, current_user))


@bp.route("/board/escalations/<int:alert_id>/acknowledge", methods=["POST"])
@allow("supervisor", "admin")
def acknowledge(alert_id: int):
    alert = sla.acknowledge(alert_id, current_user, request.form.get("note", ""))
    flash(_("Escalation of %(number)s acknowledged.", number=alert.order.number), "success")
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
