"""Replaying the actions a technician took offline: each applied at most once, in the order taken.

The app queues every action with a random key; when the connection returns it posts the queue here.
Each key is claimed in core's idempotency table (per user, prefixed `field-sync:`) in the same
transaction as the action, so an action is kept exactly when its key is, and a second replay of the
same key answers "duplicate" and changes nothing. An action the order no longer allows (it was
reassigned, or moved on) is a conflict: reported with status 409, no event written, the rest go on.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.auth import User
from core.errors import Conflict, DomainError, Invalid, recovered
from core.extensions import db
from core.idempotency import MAX_KEY_LENGTH, IdempotencyRecord
from core.parse import MAX_BIGINT, parse_datetime, parse_int
from dispatch.orders import services as dispatch
from dispatch.orders.services.assignment import duty_of
from inventory import services as inventory

log = logging.getLogger(__name__)

MAX_ITEMS = 100
KEY_PREFIX = "field-sync:"
RESOLVE_FIELDS = ("resolution_code", "parts", "loan", "collected")
_UNDATED = datetime.max.replace(tzinfo=timezone.utc)


def _when(item: dict[str, Any]) -> datetime:
    raw = item.get("at")
    if not isinstance(raw, str) or not raw.strip():
        return _UNDATED  # undated items keep their place at the end
    # core.parse keeps times within 2000–2100: 9999-12-31T23:59:59-01:00 compares with nothing
    for text in (raw, raw.strip() + "+00:00"):  # a time without offset is UTC
        try:
            return parse_datetime(text, "at") or _UNDATED
        except Invalid as err:
            recovered(err)
            continue
    return _UNDATED


def _check_items(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items:
        raise Invalid(str(_l("Send a list of queued actions.")), {"items": "required"})
    if len(items) > MAX_ITEMS:
        raise Invalid(str(_l("At most %(n)d actions at a time.", n=MAX_ITEMS)), {"items": "too_many"})
    for i, item in enumerate(items):
        key = item.get("key") if isinstance(item, dict) else None
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH - len(KEY_PREFIX):
            raise Invalid(str(_l("Every queued action needs its key.")), {f"items.{i}.key": "required"})
    return items


def _claim(user: User, key: str, digest: str) -> IdempotencyRecord:
    """The record of this key: the earlier one (status "done"), or a new claim ("in_progress") in the
    caller's transaction. On PostgreSQL a concurrent replay of the same key waits at the insert, then fails."""
    record = db.session.scalar(sa.select(IdempotencyRecord).where(
        IdempotencyRecord.user_id == user.id, IdempotencyRecord.key == KEY_PREFIX + key))
    if record is None:
        record = IdempotencyRecord(key=KEY_PREFIX + key, user_id=user.id, request_hash=digest, status="in_progress")
        with db.session.begin_nested():
            db.session.add(record)
    return record


def _apply(user: User, item: dict[str, Any]) -> dict[str, Any]:
    order_id = item.get("order_id")
    action = item.get("action")
    if not isinstance(order_id, int) or isinstance(order_id, bool):
        raise Invalid(str(_l("Please correct the marked fields.")), {"order_id": "not_integer"})
    if action not in dispatch.TECHNICIAN_ACTIONS:
        raise Invalid(str(_l("Unknown action.")), {"action": "unknown"})
    note = item.get("note") or ""
    if action == "decline" and not (isinstance(note, str) and note.strip()):
        raise Invalid(str(_l("Say why you decline the job.")), {"note": "required"})
    order = dispatch.get_order(order_id)
    if order.technician_id != user.id:
        # reassigned while the phone was offline: not this technician's to act on any more
        raise Conflict(str(_l("This job is no longer assigned to you.")), code="reassigned")
    lat, lon = (item.get("lat"), item.get("lon")) if on_duty(user) else (None, None)
    extra = {k: item[k] for k in RESOLVE_FIELDS if action == "resolve" and item.get(k) is not None}
    parts = extra.get("parts")
    if isinstance(parts, list) and parts and all(isinstance(p, dict) and "code" in p for p in parts):
        extra["parts"] = parts_from_codes((p["code"], p.get("qty")) for p in parts)  # scanned lines
    dispatch.transition(order, action, user, note=note, lat=lat, lon=lon, **extra)
    return {"status": 200, "order_status": order.status, "number": order.number}


def parts_from_codes(lines: Any) -> list[dict[str, Any]]:
    """Scanned or typed lines [(code, qty)] as the resolution's parts: a serial unit's code is that unit
    (one), any other code a SKU with its quantity. Blank codes are skipped."""
    parts: list[dict[str, Any]] = []
    for code, qty in lines:
        code = code.strip().upper() if isinstance(code, str) else ""
        if not code:
            continue
        if inventory.unit_by_serial(code) is not None:
            parts.append({"serial": code})
            continue
        try:
            parts.append({"sku": code, "qty": parse_int(qty or 1, "qty", lo=0, hi=MAX_BIGINT)})
        except Invalid:
            raise Invalid(str(_l("Quantities are whole numbers.")), {"parts": "not_integer"}) from None
    return parts


def on_duty(user: User) -> bool:
    duty = duty_of(user.id)
    return bool(duty and duty.on_duty)


def replay(user: User, items: Any) -> list[dict[str, Any]]:
    """Apply the queued actions oldest first; one result per item, in the order they were sent."""
    items = _check_items(items)
    results: dict[int, dict[str, Any]] = {}
    for index in sorted(range(len(items)), key=lambda i: (_when(items[i]), i)):
        item = items[index]
        key = item["key"].strip()
        digest = hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()
        try:
            record = _claim(user, key, digest)
        except sa.exc.IntegrityError:  # the same key replayed at this moment by another request
            results[index] = {"key": key, "status": 200, "outcome": "duplicate"}
            continue
        if record.status == "done":  # seen before: applied once, or refused for good
            earlier = json.loads(record.response_body or "{}")
            results[index] = ({"key": key, "status": 200, "outcome": "duplicate"}
                              if earlier.get("outcome") == "applied" else earlier)
            continue
        result: dict[str, Any] = {"key": key}
        try:
            with db.session.begin_nested():
                result.update(_apply(user, item), outcome="applied")
        except Conflict as err:
            if err.code == "stale":  # the whole session was rolled back: the caller must retry the batch
                raise
            recovered(err)  # the savepoint took this item back; the batch and its outcomes are saved
            result.update(status=409, outcome="conflict", code=err.code, message=err.message)
        except DomainError as err:
            recovered(err)
            result.update(status=err.status, outcome="conflict" if err.status in (403, 404) else "invalid",
                          code=err.code, message=err.message, fields=err.fields or {})
        record.status, record.response_status, record.response_body = "done", result["status"], json.dumps(result)
        db.session.flush()
        results[index] = result
        log.info("sync %s by %s: %s", key, user.username, result["outcome"])
    return [results[i] for i in range(len(items))]
