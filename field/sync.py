"""Replaying the actions a technician took offline: each applied at most once, in the order taken.

The app queues every action with a random key; when the connection returns it posts the queue here.
Each key is claimed in core's idempotency table (per user, prefixed `field-sync:`) in the same
transaction as the action, so an action is kept exactly when its key is, and a second replay of the
same key answers "duplicate" and changes nothing. An action the order no longer allows (it was
reassigned, or moved on) is a conflict: reported with status 409, no event written, the rest go on.

Every action carries the time it was tapped (`at`, ISO 8601 with offset). The order's event keeps it as
the time taken (the step's time and the SLA clock follow it) beside the time it was recorded. A time
in the future (beyond the phone's allowed clock skew, FIELD_CLOCK_SKEW_SECONDS), before the order's
previous step, or older than FIELD_MAX_ACTION_AGE_HOURS is refused with the reason (422).
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from core.auth import User
from core.db import now
from core.errors import Conflict, DomainError, Invalid, recovered
from core.extensions import db
from core.i18n import current_language, local_time
from core.idempotency import MAX_KEY_LENGTH, IdempotencyRecord
from core.parse import MAX_BIGINT, parse_datetime, parse_int
from dispatch.orders import services as dispatch
from dispatch.orders.services.assignment import duty_of
from field import services
from inventory import services as inventory

log = logging.getLogger(__name__)

MAX_ITEMS = 100
KEY_PREFIX = "field-sync:"
RESOLVE_FIELDS = ("resolution_code", "parts", "loan", "collected")
_UNDATED = datetime.max.replace(tzinfo=timezone.utc)
CLOCK_SKEW_SECONDS = 120  # a phone's clock may run this far ahead of (or behind) the server's
MAX_ACTION_AGE_HOURS = 24  # an action queued longer than this is no longer recorded as taken then
SHOWN = "yyyy-MM-dd HH:mm:ss"
ACTION_WORDS = {"accept": _l("Accept"), "decline": _l("Decline"), "depart": _l("On my way"), "arrive": _l("Arrived"),
                "wait_customer": _l("Waiting for customer"), "wait_parts": _l("Waiting for parts"),
                "resume": _l("Resume"), "resolve": _l("Resolve")}


def _parsed(raw: Any) -> datetime | None:
    """The time in `raw` (ISO 8601; without an offset it is UTC), or None if it is none."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    # core.parse keeps times within 2000–2100: 9999-12-31T23:59:59-01:00 compares with nothing
    for text in (raw, raw.strip() + "+00:00"):
        try:
            return parse_datetime(text, "at")
        except Invalid as err:
            recovered(err)
            continue
    return None


def _when(item: dict[str, Any]) -> datetime:
    return _parsed(item.get("at")) or _UNDATED  # undated items keep their place at the end


def taken_time(order: Any, raw: Any) -> datetime | None:
    """When the technician took an action on the order, from the time their phone sent (`raw`); None for
    an action sent without one (taken now). Refused (Invalid, 422, the reason in words) when the time is
    unreadable, in the future beyond the allowed clock skew, older than the allowed age, or before the
    order's previous step. A time within the skew ahead of now, or behind the previous step, is that
    clock's error: it is taken as now, or as the previous step's time."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    taken = _parsed(raw)
    if taken is None:
        raise Invalid(str(_l("The time the action was taken is not a valid time.")), {"at": "not_datetime"},
                      code="taken_at_invalid")
    cfg = current_app.config
    skew = timedelta(seconds=float(cfg.get("FIELD_CLOCK_SKEW_SECONDS", CLOCK_SKEW_SECONDS)))
    max_age = float(cfg.get("FIELD_MAX_ACTION_AGE_HOURS", MAX_ACTION_AGE_HOURS))
    current = now()
    if taken > current + skew:
        raise Invalid(str(_l("The action is dated %(time)s, in the future (it is %(now)s here): check the "
                             "phone's clock and do it again.", time=local_time(taken, SHOWN),
                             now=local_time(current, SHOWN))), {"at": "in_future"}, code="taken_in_future")
    if taken < current - timedelta(hours=max_age):
        raise Invalid(str(_l("The action was taken at %(time)s, more than %(hours)s hours ago: too late to "
                             "record it. Tell your dispatcher what you did.", time=local_time(taken, SHOWN),
                             hours=f"{max_age:g}")), {"at": "too_old"}, code="taken_too_old")
    steps = [e for e in dispatch.timeline(order) if e.to_status is not None]
    previous = max(steps, key=lambda e: e.at) if steps else None
    if previous is not None and taken < previous.at - skew:
        raise Invalid(str(_l("The action is dated %(time)s, before the job's previous step (%(step)s at "
                             "%(previous)s): check the phone's clock and do it again.",
                             time=local_time(taken, SHOWN), step=previous.label,
                             previous=local_time(previous.at, SHOWN))), {"at": "before_previous"},
                      code="taken_before_previous")
    taken = min(taken, current)
    return max(taken, previous.at) if previous is not None else taken


def take_action(order: Any, action: str, user: User, **kwargs: Any) -> Any:
    """dispatch's transition, with the refusal of a step that no longer fits said in the app's words."""
    try:
        return dispatch.transition(order, action, user, **kwargs)
    except Conflict as err:
        if err.code != "illegal_transition":
            raise
        raise Conflict(str(_l("This job is %(status)s now: “%(action)s” no longer fits. Check the job.",
                              status=order.status_label, action=ACTION_WORDS.get(action, action))),
                       code="illegal_transition") from None


def check_van_parts(user: User, parts: Any) -> None:
    """The parts a technician says they used, checked against their own van before anything is booked, so
    that a refusal says in words what is wrong ("Not enough F connector (CONN-F) in your van: 1 left, 2
    asked"). Inventory checks again when it books them; what it alone knows it says itself."""
    if not isinstance(parts, list) or not parts:
        return
    van = inventory.van_of(user)
    if van is None:
        raise Invalid(str(_l("You have no van, so no parts can be taken from it. Ask your stock keeper.")),
                      {"parts": "no_van"}, code="no_van")
    wanted: dict[int, int] = {}
    items: dict[int, Any] = {}
    for part in parts:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("serial"), str):
            unit = inventory.unit_by_serial(part["serial"])
            if unit is not None and unit.location_id != van.id:
                raise Conflict(str(_l("Unit %(serial)s is not in your van: it is at %(place)s.", serial=unit.serial,
                                      place=unit.location.code)), {"parts": "elsewhere"}, code="unit_elsewhere")
            continue
        sku, qty = part.get("sku"), part.get("qty")
        if not isinstance(sku, str) or not isinstance(qty, int) or isinstance(qty, bool):
            continue  # dispatch refuses it in its own words
        try:
            item = inventory.item_by_sku(sku)
        except Invalid as err:
            recovered(err)
            raise Invalid(str(_l("%(code)s is neither a SKU nor a serial number we know.", code=sku.strip()[:40])),
                          {"parts": "unknown"}, code="unknown_part") from None
        if item.is_serialized:
            continue  # inventory asks for the unit's serial number
        wanted[item.id] = wanted.get(item.id, 0) + qty
        items[item.id] = item
    for item_id, n in wanted.items():
        have = inventory.level_of(van, items[item_id])
        if have < n:
            raise Conflict(str(_l("Not enough %(name)s (%(sku)s) in your van: %(have)d left, %(n)d asked.",
                                  name=items[item_id].name, sku=items[item_id].sku, have=have, n=n)),
                           {"parts": "not_enough"}, code="not_enough")


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
    taken = taken_time(order, item.get("at"))
    lat, lon = (item.get("lat"), item.get("lon")) if on_duty(user) else (None, None)
    extra = {k: item[k] for k in RESOLVE_FIELDS if action == "resolve" and item.get(k) is not None}
    parts = extra.get("parts")
    if isinstance(parts, list) and parts and all(isinstance(p, dict) and "code" in p for p in parts):
        extra["parts"] = parts_from_codes((p["code"], p.get("qty")) for p in parts)  # scanned lines
    if action == "resolve":
        extra["resolution_code"] = services.check_resolution_code(
            order.category.code, order.category.label(current_language()), extra.get("resolution_code"))
        check_van_parts(user, extra.get("parts"))
    take_action(order, action, user, note=note, lat=lat, lon=lon, taken_at=taken, **extra)
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
            parts.append({"sku": code, "qty": parse_int(qty or 1, "qty", lo=1, hi=MAX_BIGINT)})
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
