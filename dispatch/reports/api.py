"""/api/v1 routes for callbacks and KPIs (see API.md). Thin: validate, call a service, serialize."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask_babel import get_locale
from flask_login import current_user

from core.access import allow
from core.apiutil import document, json_body
from core.idempotency import idempotent
from dispatch.reports.models import QUESTIONS
from dispatch.reports.services import callbacks, kpis

bp = Blueprint("reports_api", __name__, url_prefix="/api/v1")

STAFF = ("dispatcher", "supervisor", "admin")
KPI_READERS = (*STAFF, "technician")


def _actor() -> Any:
    return current_user._get_current_object()  # type: ignore[attr-defined]


@bp.route("/orders/<int:order_id>/callback", methods=["POST"])
@allow(*STAFF)
@idempotent
def order_callback(order_id: int):
    data = json_body()
    cb = callbacks.record_callback(callbacks.order_for_callback(order_id), data, _actor(), channel="phone")
    return jsonify(callbacks.callback_json(cb)), 201


_YES_NO = {"type": "boolean"}
document("/orders/{order_id}/callback", "post",
         "Record a callback on a resolved order: not reached (counted; closed as unreachable at the limit) or the "
         "survey answers; a happy answer closes the order, an unhappy one reopens it or opens a complaint visit",
         status=201, errors=(400, 401, 403, 404, 409, 422),
         params=[{"name": "order_id", "in": "path", "required": True, "schema": {"type": "integer"}},
                 {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 200}}],
         body={"type": "object", "required": ["reached"], "properties": {
             "reached": _YES_NO, **{q: _YES_NO for q in QUESTIONS},
             "satisfaction": {"type": "integer", "minimum": 1, "maximum": 5},
             "comment": {"type": "string", "maxLength": callbacks.MAX_COMMENT}}},
         response={"type": "object", "required": ["id", "order", "status", "attempts"], "properties": {
             "id": {"type": "integer"}, "order": {"type": "integer"},
             "status": {"type": "string", "enum": ["pending", "answered", "unreachable"]},
             "attempts": {"type": "integer"}, "reached": {"type": ["boolean", "null"]},
             **{q: {"type": ["boolean", "null"]} for q in QUESTIONS},
             "satisfaction": {"type": ["integer", "null"]}, "comment": {"type": "string"},
             "unhappy": {"type": "boolean"}, "follow_up": {"type": ["string", "null"]},
             "follow_up_order": {"type": ["integer", "null"]}, "order_status": {"type": "string"}}})


@bp.route("/reports/kpis")
@allow(*KPI_READERS)
def report_kpis():
    args = request.args
    actor = _actor()
    period = kpis.parse_period(args.get("from"), args.get("to"))
    filters = kpis.resolve_filters(actor, station=args.get("station"), technician=args.get("technician"),
                                   category=args.get("category"), service_line=args.get("service_line"))
    return jsonify(kpis.kpis(actor, period, filters, str(get_locale() or "")))


_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
document("/reports/kpis", "get",
         "Scorecard figures for a period (days in the operator's zone, both included; default the last 30 days): "
         "supervisors see their station, technicians themselves",
         errors=(401, 403, 404, 422),
         params=[{"name": n, "in": "query", "schema": {"type": "string", **fmt}} for n, fmt in (
             ("from", {"format": "date"}), ("to", {"format": "date"}), ("station", {}), ("technician", {}),
             ("category", {}), ("service_line", {"enum": ["cable_tv", "digital_tv", "broadband"]}))],
         response={"type": "object", "required": [
             "orders", "resolved", "on_time_rate", "mttr_hours", "first_time_fix_rate", "repeat_rate",
             "breaches_by_level", "satisfaction_avg", "work_points"], "properties": {
             "from": {"type": "string", "format": "date"}, "to": {"type": "string", "format": "date"},
             "orders": {"type": "integer"}, "resolved": {"type": "integer"}, "on_time_rate": _RATE,
             "mttr_hours": {"type": ["number", "null"]}, "first_time_fix_rate": _RATE, "repeat_rate": _RATE,
             "backlog": {"type": "object", "additionalProperties": {"type": "integer"}},
             "breaches_by_level": {"type": "object", "additionalProperties": {"type": "integer"}},
             "satisfaction_avg": {"type": ["number", "null"]}, "callbacks": {"type": "integer"},
             "unreachable": {"type": "integer"},
             "yes_rates": {"type": "object", "properties": {q: _RATE for q in QUESTIONS}},
             "work_points": {"type": "number"}, "parts": {"type": "integer"},
             "by_technician": {"type": "array", "items": {"type": "object", "properties": {
                 "technician": {"type": "string"}, "name": {"type": "string"}, "resolved": {"type": "integer"},
                 "work_points": {"type": "number"}}}}}})
