"""/api/v1 routes of the live map: the open-orders GeoJSON feed and an order's best technicians."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask_login import current_user

from core.access import allow
from core.apiutil import document
from dispatch.orders import services
from dispatch.orders.models import OPEN_STATUSES
from dispatch.livemap import services as map_service

bp = Blueprint("dispatch_map_api", __name__, url_prefix="/api/v1")

MAP_ROLES = ("dispatcher", "supervisor", "admin")


def _actor() -> Any:
    return current_user._get_current_object()  # type: ignore[attr-defined]


@bp.route("/orders.geojson")
@allow(*MAP_ROLES)
def orders_geojson():
    body = map_service.orders_geojson(_actor(), {name: request.args.get(name) for name in
                                                 ("bbox", *map_service.FILTERS)})
    return Response(body, mimetype="application/geo+json", headers={"Cache-Control": "no-store"})


_FEATURE = {"type": "object", "required": ["type", "id", "geometry", "properties"], "properties": {
    "type": {"const": "Feature"}, "id": {"type": "integer"},
    "geometry": {"type": "object", "properties": {"type": {"const": "Point"}, "coordinates": {
        "type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}}},
    "properties": {"type": "object", "required": ["id", "number", "status", "kind", "station", "deadline_at",
                                                  "sla_state", "category", "technician", "technician_name"],
                   "properties": {
        "id": {"type": "integer"}, "number": {"type": "string"},
        "status": {"type": "string", "enum": list(OPEN_STATUSES)},
        "kind": {"type": "string"}, "station": {"type": ["string", "null"]},
        "deadline_at": {"type": "string", "format": "date-time"},
        "sla_state": {"type": "string", "enum": list(map_service.SLA_STATES)},
        "category": {"type": "string"}, "technician": {"type": ["string", "null"]},
        "technician_name": {"type": ["string", "null"]}}}}}

document("/orders.geojson", "get",
         "Open orders as a GeoJSON FeatureCollection, soonest deadline first. sla_state: overdue when now >= "
         "deadline_at, due_soon when now >= warn_at, else ok (a paused order is judged when its clock stopped). "
         "Filters take comma-separated values; bbox edges are inclusive.",
         response={"type": "object", "required": ["type", "features"], "properties": {
             "type": {"const": "FeatureCollection"}, "generated_at": {"type": "string", "format": "date-time"},
             "count": {"type": "integer"}, "features": {"type": "array", "items": _FEATURE}}},
         errors=(401, 403, 422),
         params=[{"name": "bbox", "in": "query", "description": "minlon,minlat,maxlon,maxlat",
                  "schema": {"type": "string"}},
                 {"name": "station", "in": "query", "description": "station codes", "schema": {"type": "string"}},
                 {"name": "status", "in": "query", "schema": {"type": "string"}},
                 {"name": "kind", "in": "query", "schema": {"type": "string"}},
                 {"name": "sla_state", "in": "query", "description": "ok, due_soon, overdue",
                  "schema": {"type": "string"}},
                 {"name": "service_line", "in": "query", "schema": {"type": "string"}}])


@bp.route("/orders/<int:order_id>/candidates")
@allow(*MAP_ROLES)
def order_candidates(order_id: int):
    order = services.get_order(order_id)
    items = map_service.candidates_for(order, _actor())
    why_not = map_service.why_not_assignable(order, _actor())
    return jsonify(items=items, total=len(items), page=1, per_page=max(len(items), 1),
                   assignable=why_not is None, why_not=why_not)


document("/orders/{order_id}/candidates", "get",
         "The best technicians for an order now (on duty at its station, with the skill): distance and open load; "
         "assignable says whether the caller may give the order to one of them now, why_not says why not",
         response={"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {
             "type": "object", "properties": {
                 "technician_id": {"type": "integer"}, "username": {"type": "string"},
                 "distance_km": {"type": "number"}, "open_orders": {"type": "integer"},
                 "open_points": {"type": "number"}, "urgent_orders": {"type": "integer"},
                 "score": {"type": "number"}, "is_current": {"type": "boolean"}}}},
             "total": {"type": "integer"}, "page": {"type": "integer"}, "per_page": {"type": "integer"},
             "assignable": {"type": "boolean"}, "why_not": {"type": ["string", "null"]}}},
         errors=(401, 403, 404),
         params=[{"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}}])
