"""/api/v1 routes for stock: items, locations, levels, moves, serial units."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_login import current_user

from core.access import allow, allow_any_user
from core.apiutil import document, json_body, paginated, string_field
from core.extensions import db
from core.i18n import iso_local
from core.idempotency import idempotent
from inventory import services
from inventory.models import CATEGORIES, LOCATION_KINDS, MOVE_TYPES, UNIT_STATUSES, Item, Location, StockLevel, \
    StockMove, SerialUnit

bp = Blueprint("inventory_api", __name__, url_prefix="/api/v1")

def item_json(item: Item) -> dict[str, Any]:
    return {"sku": item.sku, "name": item.name, "name_zh": item.name_zh, "category": item.category, "unit": item.unit,
            "serialized": item.is_serialized, "unit_cost": str(item.unit_cost),
            "reorder_point": item.reorder_point, "reorder_qty": item.reorder_qty}


def location_json(loc: Location) -> dict[str, Any]:
    return {"code": loc.code, "name": loc.name, "kind": loc.kind,
            "station": loc.station.code if loc.station else None,
            "technician": loc.technician.username if loc.technician else None}


def level_json(level: StockLevel) -> dict[str, Any]:
    return {"location": level.location.code, "sku": level.item.sku, "qty": level.qty,
            "reorder_point": level.reorder_point, "low": level.qty < level.reorder_point}


def move_json(move: StockMove) -> dict[str, Any]:
    return {"id": move.id, "type": move.type, "sku": move.item.sku, "qty": move.qty,
            "serial": move.serial_unit.serial if move.serial_unit else None,
            "from": move.from_location.code if move.from_location else None,
            "to": move.to_location.code if move.to_location else None,
            "reason": move.reason, "order": move.order_id, "customer": move.customer_id,
            "actor": move.actor.username if move.actor else None, "at": iso_local(move.at)}


def unit_json(unit: SerialUnit, history: list[StockMove]) -> dict[str, Any]:
    return {"serial": unit.serial, "sku": unit.item.sku, "status": unit.status, "location": unit.location.code,
            "customer": unit.customer_id, "history": [move_json(m) for m in history]}


ITEM = {"type": "object", "properties": {
    "sku": {"type": "string"}, "name": {"type": "string"}, "category": {"type": "string", "enum": list(CATEGORIES)},
    "unit": {"type": "string"}, "serialized": {"type": "boolean"}, "unit_cost": {"type": "string"},
    "reorder_point": {"type": "integer"}, "reorder_qty": {"type": "integer"}}}
LOCATION = {"type": "object", "properties": {
    "code": {"type": "string"}, "name": {"type": "string"}, "kind": {"type": "string", "enum": list(LOCATION_KINDS)},
    "station": {"type": "string", "nullable": True}, "technician": {"type": "string", "nullable": True}}}
LEVEL = {"type": "object", "properties": {
    "location": {"type": "string"}, "sku": {"type": "string"}, "qty": {"type": "integer"},
    "reorder_point": {"type": "integer"}, "low": {"type": "boolean"}}}
MOVE = {"type": "object", "properties": {
    "id": {"type": "integer"}, "type": {"type": "string", "enum": list(MOVE_TYPES)}, "sku": {"type": "string"},
    "qty": {"type": "integer"}, "serial": {"type": "string", "nullable": True},
    "from": {"type": "string", "nullable": True}, "to": {"type": "string", "nullable": True},
    "reason": {"type": "string"}, "order": {"type": "integer", "nullable": True},
    "customer": {"type": "integer", "nullable": True}, "actor": {"type": "string"},
    "at": {"type": "string", "format": "date-time"}}}


def _list(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"items": {"type": "array", "items": schema},
                                             "total": {"type": "integer"}, "page": {"type": "integer"},
                                             "per_page": {"type": "integer"}}}


def _query(name: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}


@bp.route("/items")
@allow_any_user
def item_list():
    stmt = services.items_query(request.args.get("q"), request.args.get("category") or None)
    return jsonify(paginated(db, stmt, item_json))


document("/items", "get", "The spare items", response=_list(ITEM),
         params=[_query("q"), _query("category"), _query("page"), _query("per_page")])


@bp.route("/locations")
@allow_any_user
def location_list():
    services.ensure_locations()
    kind = request.args.get("kind") or None
    return jsonify(paginated(db, services.locations_query(kind if kind in LOCATION_KINDS else None), location_json))


document("/locations", "get", "Stock locations: station stores, technicians' vans, repair, customers, "
         "supplier, scrap", response=_list(LOCATION), params=[_query("kind"), _query("page"), _query("per_page")])


@bp.route("/stock")
@allow_any_user
def stock_list():
    stmt = services.levels_query(current_user, location=request.args.get("location") or None,
                                 sku=request.args.get("sku") or None)
    return jsonify(paginated(db, stmt, level_json))


document("/stock", "get", "Stock levels (the places you may see)", response=_list(LEVEL),
         params=[_query("location"), _query("sku"), _query("page"), _query("per_page")])


@bp.route("/stock/moves", methods=["POST"])
@allow("stockkeeper", "admin")
@idempotent
def move_create():
    data = json_body()
    move = services.record_move(
        data.get("type"), sku=data.get("sku"), qty=data.get("qty"), serial=data.get("serial"),
        source=data.get("from"), target=data.get("to"), reason=string_field(data, "reason") or "",
        order_id=data.get("order"), customer_id=data.get("customer"), faulty=data.get("faulty") is True,
        actor=current_user)
    return jsonify(move_json(move)), 201


document("/stock/moves", "post", "Record one stock move (the ledger is append-only)", status=201, response=MOVE,
         body={"type": "object", "required": ["type"], "properties": {
             "type": {"type": "string", "enum": list(MOVE_TYPES)}, "sku": {"type": "string"},
             "qty": {"type": "integer", "minimum": 1}, "serial": {"type": "string"},
             "from": {"type": "string"}, "to": {"type": "string"}, "reason": {"type": "string"},
             "order": {"type": "integer"}, "customer": {"type": "integer"}, "faulty": {"type": "boolean"}}},
         errors=(400, 401, 403, 409, 422))


@bp.route("/units/<serial>")
@allow_any_user
def unit_detail(serial: str):
    unit = services.get_unit(serial, current_user)
    return jsonify(unit_json(unit, services.unit_history(unit)))


document("/units/{serial}", "get", "A serial unit and its whole history, oldest first (units the caller may see: "
         "their station's, a technician's van and jobs; others are 404)",
         response={"type": "object", "properties": {
             "serial": {"type": "string"}, "sku": {"type": "string"},
             "status": {"type": "string", "enum": list(UNIT_STATUSES)}, "location": {"type": "string"},
             "customer": {"type": "integer", "nullable": True}, "history": {"type": "array", "items": MOVE}}},
         params=[{"name": "serial", "in": "path", "required": True, "schema": {"type": "string"}}],
         errors=(401, 404))
