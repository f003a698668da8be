"""/api/v1 routes for repair orders and categories (see API.md). Thin: validate, call a service, serialize."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import get_locale
from flask_login import current_user

from core.access import allow, allow_any_user
from core.apiutil import document, json_body, paginated
from core.customers import mask_phone
from core.extensions import db
from core.i18n import iso_local
from core.idempotency import idempotent
from dispatch.orders import services
from dispatch.orders.models import SLA_STATES, STEP_TIME_FIELDS, OrderEvent, RepairOrder

bp = Blueprint("dispatch_api", __name__, url_prefix="/api/v1")

ORDER_READERS = ("dispatcher", "supervisor", "admin", "technician")
ORDER_MANAGERS = ("dispatcher", "supervisor", "admin")


def _actor() -> Any:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def event_json(event: OrderEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"id": event.id, "type": event.type, "at": iso_local(event.at),
                           "actor": event.actor.username if event.actor else None, "note": event.note,
                           "from_status": event.from_status, "to_status": event.to_status}
    if event.lat is not None:
        out["lat"], out["lon"] = event.lat, event.lon
    out.update({k: v for k, v in (event.data or {}).items() if k not in out})
    return out


def order_json(order: RepairOrder, *, events: bool = False) -> dict[str, Any]:
    """An order as the caller may see it: the ranked candidates (colleagues' distances and open load)
    are for those who assign — dispatchers, supervisors, admins — never for technicians."""
    out: dict[str, Any] = {
        "id": order.id, "number": order.number, "status": order.status, "kind": order.kind,
        "category": order.category.code, "priority": order.priority, "channel": order.channel,
        "customer": {"id": order.customer.id, "account_no": order.customer.account_no, "name": order.customer.name,
                     "phone": mask_phone(order.customer.phone)},
        "description": order.description, "address": order.address, "lat": order.lat, "lon": order.lon,
        "needs_location": order.needs_location,
        "station": order.station.code if order.station else None, "placement_reason": order.placement_reason,
        "placement_code": order.placement_code,
        "technician": ({"id": order.technician.id, "username": order.technician.username,
                        "full_name": order.technician.full_name} if order.technician else None),
        "reported_at": iso_local(order.reported_at), "deadline_at": iso_local(order.effective_deadline()),
        "sla_state": order.sla_state(), "is_paused": order.is_paused, "escalation_level": order.escalation_level,
        "resolution_code": order.resolution_code, "is_repeat": order.is_repeat, "weight": order.weight,
        "incident": order.incident_id, "version": order.version,
    }
    if _actor().role in ORDER_MANAGERS:
        out["candidates"] = order.candidates or []
    for name in STEP_TIME_FIELDS:
        out[name] = iso_local(getattr(order, name))
    if events:
        out["events"] = [event_json(e) for e in services.timeline(order)]
    return out


ORDER_SCHEMA = {"type": "object", "required": ["id", "number", "status", "deadline_at", "sla_state"], "properties": {
    "id": {"type": "integer"}, "number": {"type": "string"}, "status": {"type": "string"},
    "kind": {"type": "string"}, "category": {"type": "string"}, "station": {"type": ["string", "null"]},
    "technician": {"type": ["object", "null"]}, "deadline_at": {"type": "string", "format": "date-time"},
    "sla_state": {"type": "string", "enum": list(SLA_STATES)},
    "escalation_level": {"type": "integer"}, "incident": {"type": ["integer", "null"]},
    "version": {"type": "integer"}, "events": {"type": "array", "items": {"type": "object"}}}}


def _list_schema(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "total", "page", "per_page"], "properties": {
        "items": {"type": "array", "items": item}, "total": {"type": "integer"},
        "page": {"type": "integer"}, "per_page": {"type": "integer"}}}


def _order_id(value: int) -> RepairOrder:
    order = services.get_order(value)
    services.check_may_see(order, _actor())
    return order


@bp.route("/categories")
@allow_any_user
def category_list():
    locale = str(get_locale() or "")
    items = [services.category_json(c, locale) for c in services.categories()]
    return jsonify(items=items, total=len(items), page=1, per_page=len(items))


document("/categories", "get", "The fault and job categories", response=_list_schema(
    {"type": "object", "properties": {"code": {"type": "string"}, "name": {"type": "string"},
                                      "kind": {"type": "string"}, "service_line": {"type": "string"},
                                      "skill": {"type": "string"}, "weight": {"type": "number"}}}))


@bp.route("/orders", methods=["POST"])
@allow(*ORDER_MANAGERS)
@idempotent
def create_order():
    body = json_body()
    order = services.create_order(body, _actor(), default_channel="api",
                                  check_duplicates=body.get("check_duplicates") is True)
    return jsonify(order_json(order, events=True)), 201


document("/orders", "post", "Create a repair order (placed and assigned at once); honours Idempotency-Key",
         status=201, response=ORDER_SCHEMA, errors=(400, 401, 403, 404, 409, 422),
         params=[{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 200}}],
         body={"type": "object", "required": ["category", "description"], "properties": {
             "customer_id": {"type": "integer"},
             "customer": {"type": "object", "properties": {"name": {"type": "string"}, "phone": {"type": "string"},
                                                           "address": {"type": "string"}}},
             "lat": {"type": "number", "minimum": -90, "maximum": 90},
             "lon": {"type": "number", "minimum": -180, "maximum": 180},
             "kind": {"type": "string", "enum": ["fault", "installation", "relocation", "complaint_visit"]},
             "category": {"type": "string"}, "description": {"type": "string", "maxLength": 4000},
             "address": {"type": "string"}, "priority": {"type": "string"},
             "channel": {"type": "string", "enum": ["hotline", "counter", "web", "open311", "api", "import"]},
             "reported_at": {"type": "string", "format": "date-time"},
             "confirm_outside_area": {"type": "boolean", "default": False, "description":
                                      "take a point farther than OUTSIDE_AREA_KM from every station's area; "
                                      "without it such a point is a 422 with fields.location = outside_service_area"},
             "check_duplicates": {"type": "boolean", "default": False, "description":
                                  "refuse (409, code possible_duplicate, fields.duplicates = their numbers) when "
                                  "the customer has an open order or an open fault of the category is within 200 m"},
             "confirm_duplicate": {"type": "boolean", "default": False,
                                   "description": "with check_duplicates: take the order all the same"}}})


@bp.route("/orders")
@allow(*ORDER_READERS)
def order_list():
    args = request.args
    stmt = services.orders_query(_actor(), status=args.get("status"), station=args.get("station"),
                                 technician=args.get("technician"), bbox=args.get("bbox"),
                                 overdue=args.get("overdue"), queue=args.get("queue"), q=args.get("q"))
    return jsonify(paginated(db, stmt, order_json))


document("/orders", "get", "Repair orders the caller may see, newest first", response=_list_schema(ORDER_SCHEMA),
         params=[{"name": n, "in": "query", "schema": {"type": "string"}} for n in
                 ("status", "station", "technician", "bbox", "overdue", "queue", "q", "page", "per_page")])


@bp.route("/orders/<int:order_id>")
@allow(*ORDER_READERS)
def order_detail(order_id: int):
    return jsonify(order_json(_order_id(order_id), events=True))


document("/orders/{order_id}", "get", "A repair order with its timeline", response=ORDER_SCHEMA, errors=(401, 403, 404),
         params=[{"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}}])


@bp.route("/orders/<int:order_id>/assign", methods=["POST"])
@allow(*ORDER_MANAGERS)
@idempotent
def order_assign(order_id: int):
    data = json_body()
    order = services.assign(_order_id(order_id), _actor(), technician_id=data.get("technician_id"),
                            station_code=data.get("station"), reason=data.get("reason") or "",
                            expected_version=data.get("version"))
    return jsonify(order_json(order, events=True))


document("/orders/{order_id}/assign", "post", "Assign to a technician or move to a station (dispatcher override)",
         response=ORDER_SCHEMA, errors=(400, 401, 403, 404, 409, 422),
         params=[{"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
         body={"type": "object", "properties": {"technician_id": {"type": "integer"}, "station": {"type": "string"},
                                                "reason": {"type": "string"}, "version": {"type": "integer"}}})


@bp.route("/orders/<int:order_id>/transitions", methods=["POST"])
@allow(*ORDER_READERS)
@idempotent
def order_transition(order_id: int):
    data = json_body()
    payload = {k: v for k, v in data.items() if k in ("resolution_code", "parts", "loan", "collected")}
    order = services.transition(_order_id(order_id), data.get("action"), _actor(), note=data.get("note") or "",
                                lat=data.get("lat"), lon=data.get("lon"), expected_version=data.get("version"),
                                **payload)
    return jsonify(order_json(order, events=True))


document("/orders/{order_id}/transitions", "post", "Move an order along its life cycle",
         response=ORDER_SCHEMA, errors=(400, 401, 403, 404, 409, 422),
         params=[{"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
         body={"type": "object", "required": ["action"], "properties": {
             "action": {"type": "string", "enum": list(services.ACTIONS)}, "note": {"type": "string"},
             "lat": {"type": "number"}, "lon": {"type": "number"}, "version": {"type": "integer"},
             "resolution_code": {"type": "string"},
             "parts": {"type": "array", "items": {"type": "object"}},
             "loan": {"type": "object", "properties": {"serial": {"type": "string"}}},
             "collected": {"type": "object", "properties": {"serial": {"type": "string"}}}}})


@bp.route("/orders/<int:order_id>/location", methods=["POST"])
@allow(*ORDER_MANAGERS)
@idempotent
def order_location(order_id: int):
    data = json_body()
    order = services.pin_location(_order_id(order_id), data.get("lat"), data.get("lon"), _actor(),
                                  expected_version=data.get("version"))
    return jsonify(order_json(order, events=True))


document("/orders/{order_id}/location", "post", "Pin the point of an order that waits for a location, then assign it",
         response=ORDER_SCHEMA, errors=(400, 401, 403, 404, 409, 422),
         params=[{"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
         body={"type": "object", "required": ["lat", "lon"], "properties": {
             "lat": {"type": "number"}, "lon": {"type": "number"}, "version": {"type": "integer"}}})
