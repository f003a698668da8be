"""The dispatcher's live map at /dispatch/map.

The server draws what changes slowly — stations, their areas, technicians — as a folium map
inside our layout; static/dispatch/map.js loads the orders from /api/v1/orders.geojson for the
current view into a marker-cluster group and a fault heat layer, and keeps them fresh.
"""
from __future__ import annotations

from typing import Any

import folium
from branca.element import MacroElement
from flask import Blueprint, current_app, render_template, url_for
from flask_babel import gettext as _
from flask_babel import pgettext
from flask_login import current_user
from folium.elements import JSCSSMixin
from folium.plugins import HeatMap, MarkerCluster

from core.access import allow
from core.maps import TextIcon, TextTooltip, render_map_parts
from core.security import csp_nonce
from dispatch.orders.models import KIND_LABELS, OPEN_STATUSES, SERVICE_LINES, STATUS_LABELS
from dispatch.livemap import services as map_service

bp = Blueprint("dispatch_map", __name__, url_prefix="/dispatch", template_folder="templates")

DEFAULT_CENTER = (22.54, 114.06)


class PluginAssets(JSCSSMixin, MacroElement):
    """Loads the marker-cluster and heat-map libraries (vendored by core.maps) without drawing
    anything: map.js builds those layers from the live feed."""

    default_js = MarkerCluster.default_js + HeatMap.default_js
    default_css = MarkerCluster.default_css


def _service_line_labels() -> dict[str, str]:
    return {"cable_tv": _("Cable TV"), "digital_tv": _("Digital TV"), "broadband": _("Broadband")}


def _coverage_points(geometry: Any) -> list[tuple[float, float]]:
    """Every (lat, lon) vertex of a GeoJSON Polygon/MultiPolygon (for the initial view)."""
    out: list[tuple[float, float]] = []

    def walk(node: Any) -> None:
        if isinstance(node, (list, tuple)) and len(node) >= 2 and all(isinstance(v, (int, float)) for v in node[:2]):
            out.append((float(node[1]), float(node[0])))
        elif isinstance(node, (list, tuple)):
            for child in node:
                walk(child)
    walk((geometry or {}).get("coordinates", []))
    return out


def station_bounds(stations: list[Any]) -> list[list[float]] | None:
    """[[south, west], [north, east]] around the stations and their coverage areas; None for no station."""
    points = [(s.lat, s.lon) for s in stations] + [p for s in stations for p in _coverage_points(s.coverage)]
    if not points:
        return None
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    return [[round(min(lats), 6), round(min(lons), 6)], [round(max(lats), 6), round(max(lons), 6)]]


def build_map(stations: list[Any], technicians: list[dict[str, Any]]) -> dict[str, Any]:
    """The folium map: stations, a switchable coverage layer, technicians, a layer control."""
    bounds = station_bounds(stations)
    center = ([(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2] if bounds
              else list(DEFAULT_CENTER))
    m = folium.Map(location=center, zoom_start=12, tiles=None, max_zoom=19, control_scale=True,
                   prefer_canvas=False)
    # Only Leaflet: this map draws no folium popups or icons, so jQuery, Bootstrap and the
    # awesome-markers/Font Awesome assets (about 400 kB) would only slow the page down.
    m.default_js = [a for a in m.default_js if a[0] == "leaflet"]
    m.default_css = [a for a in m.default_css if a[0] == "leaflet_css"]
    if bounds:
        m.fit_bounds(bounds, padding=(30, 30))
    tiles = current_app.config.get("TILES_URL") or None
    if tiles:
        folium.TileLayer(tiles=tiles, attr=current_app.config.get("TILES_ATTRIBUTION", ""), max_zoom=19,
                         name=_("Streets")).add_to(m)
    areas = folium.FeatureGroup(name=_("Coverage areas"), show=True)
    for s in stations:
        if s.coverage:
            folium.GeoJson(s.coverage, style_function=lambda _f: {"color": "#0b5cad", "weight": 1,
                                                                  "fillOpacity": 0.06},
                           tooltip=TextTooltip(f"{s.code} {s.display_name}")).add_to(areas)
    areas.add_to(m)
    station_layer = folium.FeatureGroup(name=_("Stations"), show=True)
    for s in stations:
        folium.Marker([s.lat, s.lon], tooltip=TextTooltip(f"{s.code} {s.display_name}"),
                      icon=TextIcon(s.code, attrs={"class": "map-station", "title": s.code},
                                    icon_size=(44, 20), icon_anchor=(22, 10), class_name="map-station-icon")
                      ).add_to(station_layer)
    station_layer.add_to(m)
    tech_layer = folium.FeatureGroup(name=_("Technicians"), show=True)
    for t in technicians:
        state = _("on duty") if t["on_duty"] else _("off duty")
        label = _("%(name)s (%(station)s), %(state)s: %(n)d open orders, %(points)s points",
                  name=t["name"], station=t["station"] or "-", state=state, n=t["open_orders"],
                  points=t["open_points"])
        css = "map-tech" + ("" if t["on_duty"] else " map-tech-off")
        folium.Marker([t["lat"], t["lon"]], tooltip=TextTooltip(label),
                      icon=TextIcon(t["open_orders"], attrs={"class": css, "data-tech": t["username"]},
                                    icon_size=(26, 26), icon_anchor=(13, 13), class_name="map-tech-icon")
                      ).add_to(tech_layer)
    tech_layer.add_to(m)
    PluginAssets().add_to(m)
    control = folium.LayerControl(collapsed=False)
    control.add_to(m)
    parts = render_map_parts(m, csp_nonce(), static_url=url_for("static", filename=""))
    return {"parts": parts, "map_name": m.get_name(), "control_name": control.get_name()}


@bp.route("/map")
@allow("dispatcher", "supervisor", "admin")
def index():
    actor = current_user._get_current_object()  # type: ignore[attr-defined]
    stations = map_service.map_stations(actor)
    technicians = map_service.technicians_on_map(actor)
    live_map = build_map(stations, technicians)
    config = {
        "feedUrl": url_for("dispatch_map_api.orders_geojson"),
        "categoriesUrl": url_for("dispatch_api.category_list"),
        "orderUrl": url_for("dispatch_api.order_detail", order_id=0).rsplit("/", 1)[0] + "/",
        "orderPageUrl": url_for("dispatch.order_page", order_id=0).rsplit("/", 1)[0] + "/",
        "searchUrl": url_for("dispatch_api.order_list"),
        # a station filter fits the map to that station's area; "All" to every station of the user's scope
        "stationBounds": {s.code: station_bounds([s]) for s in stations},
        "allBounds": station_bounds(stations),
        "pollSeconds": int(current_app.config.get("MAP_POLL_SECONDS", 15)),
        "mapName": live_map["map_name"],
        "controlName": live_map["control_name"],
        "statusLabels": {s: str(STATUS_LABELS[s]) for s in OPEN_STATUSES},
        "kindLabels": {k: str(v) for k, v in KIND_LABELS.items()},
        "slaLabels": {"ok": pgettext("sla", "On time"), "due_soon": _("Due soon"), "overdue": _("Overdue")},
        "msg": {
            "orders": _("Open orders"), "heat": _("Fault heat map"), "updated": _("updated %(time)s", time="{time}"),
            "loading": _("Loading…"), "failed": _("Could not load the orders; retrying."),
            "inView": _("Orders in view: %(n)s", n="{n}"), "more": _("and %(n)s more — zoom in", n="{n}"),
            "none": _("No open orders in view."), "category": _("Category"), "customer": _("Customer"),
            "deadline": _("Deadline"), "station": _("Station"), "technician": _("Technician"),
            "nobody": _("nobody yet"), "candidates": _("Best technicians"), "noCandidates":
                _("No technician with the skill is on duty at this station."),
            "km": _("%(km)s km", km="{km}"), "load": _("%(n)s open", n="{n}"), "assign": _("Assign"),
            "reassign": _("Reassign"), "current": _("current"), "reason": _("Reason for reassigning"),
            "reasonNeeded": _("Say why the order is reassigned."),
            "done": _("%(number)s assigned to %(name)s.", number="{number}", name="{name}"),
            "openOrder": _("Open the order"), "results": _("Search results: %(n)s", n="{n}"),
            "noResults": _("No open order matches."), "moreResults": _("and %(n)s more — be more precise", n="{n}"),
            "searching": _("Searching…"), "noLocation": _("No location yet: open the order to pin it."),
            "leftIn": _("%(time)s left", time="{time}"), "overdueBy": _("overdue by %(time)s", time="{time}"),
            "hours": _("%(h)s h %(m)s min", h="{h}", m="{m}"), "minutes": _("%(m)s min", m="{m}"),
            "error": _("Something went wrong."),
        },
    }
    filters = [  # (query parameter, label, "any" option, options) — the feed's filters
        ("station", _("Station"), _("All"), [(s.code, f"{s.code} {s.display_name}") for s in stations]),
        ("status", _("Status"), _("All open"), [(s, str(STATUS_LABELS[s])) for s in OPEN_STATUSES]),
        ("kind", _("Kind"), _("All"), [(k, str(v)) for k, v in KIND_LABELS.items()]),
        ("sla_state", _("Deadline"), _("All"), [(k, config["slaLabels"][k]) for k in ("overdue", "due_soon", "ok")]),
        ("service_line", _("Service line"), _("All"), [(s, _service_line_labels()[s]) for s in SERVICE_LINES]),
    ]
    return render_template("livemap/map.html", live_map=live_map, config=config, filters=filters)
