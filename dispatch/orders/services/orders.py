"""Repair orders: intake from every channel, placement, assignment, the life cycle, the timeline.

Every change goes through here, checked against the life-cycle graph and the actor, and
writes its OrderEvent (and any notification) in the caller's transaction. Nothing commits.
Concurrent changes to one order are caught by the version column: the loser gets Conflict.
"""
from __future__ import annotations

import logging
import secrets
from functools import wraps
from datetime import datetime, timedelta
from typing import Any, Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.exc import StaleDataError

from core import audit, customers, outbox
from core.access import in_scope
from core.auth import User
from core.db import now
from core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, recovered
from core.extensions import db
from core.geo import check_point
from core.messages import Stored
from core.parse import is_id, parse_datetime, to_float
from core.stations import Station, get_station, station_by_code
from dispatch.orders import geocoding
from dispatch.orders.messages import stored
from dispatch.orders.services import stock
from dispatch.orders.models import (CHANNELS, KINDS, OPEN_STATUSES, PRIORITIES, OrderEvent, RepairOrder)
from dispatch.orders.services import assignment, intake
from dispatch.deadlines.services import incidents
from dispatch.orders.services.reference import category_by_code, policy_for

log = logging.getLogger(__name__)

MAX_DESCRIPTION = 4000
MAX_NOTE = 1000
MAX_BACKDATE = timedelta(days=30)
FUTURE_TOLERANCE = timedelta(minutes=2)  # clocks of outside systems drift a little
REOPEN_WINDOW = timedelta(days=7)
STAFF_ROLES = ("dispatcher", "supervisor", "admin")
ASSIGNABLE = ("new", "assigned", "accepted")

# action: (from statuses, to status (None: decided by the action), event type)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "accept": (("assigned",), "accepted", "accepted"),
    "decline": (("assigned",), None, "declined"),
    "depart": (("accepted",), "en_route", "departed"),
    "arrive": (("en_route",), "on_site", "arrived"),
    "wait_customer": (("on_site",), "waiting_customer", "waiting_customer"),
    "wait_parts": (("on_site",), "waiting_parts", "waiting_parts"),
    "resume": (("waiting_customer", "waiting_parts"), "on_site", "resumed"),
    "resolve": (("on_site",), "resolved", "resolved"),
    "close": (("resolved",), "closed", "closed"),
    "reopen": (("resolved", "closed"), None, "reopened"),
    "cancel": (("new", "assigned"), "cancelled", "cancelled"),
    # a mass outage fixed at the network: its linked orders are resolved wherever they stand
    "restore": (OPEN_STATUSES, "resolved", "resolved"),
}
ACTIONS = tuple(TRANSITIONS)
TECHNICIAN_ACTIONS = ("accept", "decline", "depart", "arrive", "wait_customer", "wait_parts", "resume", "resolve")


# --------------------------------------------------------------------------- reading

def get_order(order_id: Any) -> RepairOrder:
    order = db.session.get(RepairOrder, order_id) if is_id(order_id) else None
    if order is None:
        raise NotFound(str(_l("No such repair order.")))
    return order


def order_by_number(number: str) -> RepairOrder | None:
    return db.session.scalar(sa.select(RepairOrder).where(RepairOrder.number == (number or "").strip().upper()))


def timeline(order: RepairOrder) -> list[OrderEvent]:
    return list(db.session.scalars(order.events.select().order_by(OrderEvent.at, OrderEvent.id)))


def may_see(order: RepairOrder, actor: User) -> bool:
    """Staff: orders of their station scope (core.access); technicians: the orders assigned to them."""
    if actor.role == "technician":
        return order.technician_id == actor.id
    return actor.role in STAFF_ROLES and in_scope(actor, order.station_id)


def check_may_see(order: RepairOrder, actor: User) -> None:
    """An order the actor may not see does not exist for them: NotFound, as for a wrong id (no probing)."""
    if not may_see(order, actor):
        raise NotFound(str(_l("No such repair order.")))


def _may_manage(order: RepairOrder, actor: User) -> bool:
    return actor.role in STAFF_ROLES and in_scope(actor, order.station_id)


# --------------------------------------------------------------------------- events & alerts

def add_event(order: RepairOrder, type_: str, actor: User | None = None, note: str = "", *,
              lat: float | None = None, lon: float | None = None, from_status: str | None = None,
              to_status: str | None = None, at: datetime | None = None, **data: Any) -> OrderEvent:
    recorded = now()  # `at` is when it was taken: earlier for an action a technician took offline
    if isinstance(note, Stored):  # written by a service: shown in the reader's language
        data.update(msg=note.code, msg_params=note.params)
    event = OrderEvent(order_id=order.id, type=type_, at=at or recorded, recorded_at=recorded,
                       actor_id=getattr(actor, "id", None), note=(note or "")[:MAX_NOTE], lat=lat, lon=lon, from_status=from_status,
                       to_status=to_status, data=data)
    db.session.add(event)
    return event


def _notify(kind: str, user_id: int | None, order: RepairOrder, cause: str, message: Stored,
            urgency: str = "normal") -> None:
    user = db.session.get(User, user_id) if user_id else None
    if user is None:
        return
    outbox.enqueue(kind, user, cause=f"order:{order.id}:{cause}", message=message,
                   url=f"/field/orders/{order.id}", order_id=order.id, urgency=urgency, topic=f"order-{order.id}")


def _notify_assigned(order: RepairOrder, event: OrderEvent) -> None:
    db.session.flush()  # the event's id names the alert, so a retry cannot send it twice
    _notify("order_assigned", order.technician_id, order, f"assigned:{event.id}",
            stored("alert.order_assigned", number=order.number, category=order.category.code,
                   area=order.station_id),
            urgency="high" if order.kind == "fault" else "normal")


def _notify_taken_away(order: RepairOrder, technician_id: int | None, event: OrderEvent) -> None:
    db.session.flush()
    _notify("order_unassigned", technician_id, order, f"unassigned:{event.id}",
            stored("alert.order_unassigned", number=order.number, area=order.station_id))


def order_area(order: RepairOrder) -> str:
    """What a lock screen may show of where a job is: the station's district, never the address."""
    station = db.session.get(Station, order.station_id) if order.station_id else None
    return (station.district or station.name) if station else ""


def _one_writer(fn: Callable[..., RepairOrder]) -> Callable[..., RepairOrder]:
    """A concurrent change of the same order (its version moved under us) wins; this one is refused.

    The change runs in a savepoint: a stale flush undoes only its own work and leaves the request's
    transaction usable (the view can still render), and the Conflict then rolls the request back at
    the transaction edge like any refusal.
    """
    @wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> RepairOrder:
        try:
            with db.session.begin_nested():
                return fn(*args, **kwargs)
        except StaleDataError:
            raise Conflict(str(_l("Someone else changed this order just now; reload and try again.")),
                           code="stale") from None
    return guarded


def _check_version(order: RepairOrder, expected: Any) -> None:
    if expected is None:
        return
    if not isinstance(expected, int) or isinstance(expected, bool):
        raise Invalid(str(_l("version must be a whole number.")), {"version": "not_integer"})
    if expected != order.version:
        raise Conflict(str(_l("Someone else changed this order just now; reload and try again.")),
                       {"version": "stale"}, code="stale")


# --------------------------------------------------------------------------- intake

def _parse_time(value: Any, field: str) -> datetime:
    try:
        parsed = parse_datetime(value, field)
    except Invalid as err:
        reason = _l("the time needs an offset") if err.fields.get(field) == "needs_offset" \
            else _l("an ISO 8601 time with offset")
        raise Invalid(str(_l("Please correct the marked fields.")), {field: str(reason)}) from None
    if parsed is None:
        raise Invalid(str(_l("Please correct the marked fields.")), {field: str(_l("an ISO 8601 time with offset"))})
    return parsed


def _text(data: dict[str, Any], name: str, errors: dict[str, str], *, max_len: int,
          required: bool = False) -> str:
    value = data.get(name)
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[name] = str(_l("must be text"))
        return ""
    value = value.strip()
    if required and not value:
        errors[name] = str(_l("required"))
    elif len(value) > max_len:
        errors[name] = str(_l("at most %(n)d characters", n=max_len))
    return value


def _validated_intake(data: dict[str, Any], default_channel: str) -> dict[str, Any]:
    """Check every field of an intake before anything is written; Invalid lists them all."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    customer_id, new_customer = data.get("customer_id"), data.get("customer")
    if customer_id is not None and customer_id != "":
        if isinstance(customer_id, bool) or not isinstance(customer_id, int):
            errors["customer_id"] = str(_l("must be a whole number"))
        elif not is_id(customer_id):  # 2**40 fits no id column: PostgreSQL and SQLite would fail
            errors["customer_id"] = str(_l("No such customer."))
        else:
            out["customer_id"] = customer_id
    elif isinstance(new_customer, dict):
        out["new_customer"] = new_customer
    else:
        errors["customer_id"] = str(_l("give customer_id or customer {name, phone, address}"))
    out["description"] = _text(data, "description", errors, max_len=MAX_DESCRIPTION, required=True)
    out["address"] = _text(data, "address", errors, max_len=255)
    out["category"] = data.get("category")
    if not isinstance(out["category"], str) or not out["category"].strip():
        errors["category"] = str(_l("required"))
    kind = data.get("kind")
    if kind not in (None, "") and kind not in KINDS:
        errors["kind"] = str(_l("one of: %(values)s", values=", ".join(KINDS)))
    out["kind"] = kind or None
    channel = data.get("channel") or default_channel
    if channel not in CHANNELS:
        errors["channel"] = str(_l("one of: %(values)s", values=", ".join(CHANNELS)))
    out["channel"] = channel
    priority = data.get("priority") or "normal"
    if priority not in PRIORITIES:
        errors["priority"] = str(_l("one of: %(values)s", values=", ".join(PRIORITIES)))
    out["priority"] = priority
    lat, lon = data.get("lat"), data.get("lon")
    out["point"] = None
    if lat not in (None, "") or lon not in (None, ""):
        try:
            out["point"] = check_point(lat, lon)
        except Invalid as err:
            recovered(err)  # folded into the one refusal below
            errors.update(err.fields)
    out["reported_at"] = now()
    if data.get("reported_at") not in (None, ""):
        try:
            reported = _parse_time(data["reported_at"], "reported_at")
            if reported > now() + FUTURE_TOLERANCE:
                errors["reported_at"] = str(_l("may not be in the future"))
            elif reported < now() - MAX_BACKDATE:
                errors["reported_at"] = str(_l("at most 30 days back"))
            out["reported_at"] = min(reported, now())
        except Invalid as err:
            recovered(err)  # folded into the one refusal below
            errors.update(err.fields)
    for name in ("confirm_outside_area", "confirm_duplicate"):
        confirmed = intake.flag(data.get(name))
        if confirmed is None:
            errors[name] = str(_l("true or false"))
        out[name] = bool(confirmed)
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    return out


def _check_service_area(point: tuple[float, float]) -> None:
    """A point far from every station's area is refused (a typo, swapped coordinates, another city)."""
    outside = intake.km_outside_service_area(*point)
    limit = float(current_app.config.get("OUTSIDE_AREA_KM", 5.0))
    if outside is not None and outside[0] > limit:
        raise Invalid(str(_l("The point is outside the service area: %(km)s km from the nearest station's area "
                             "(%(code)s). Check the point, or confirm to take the order anyway.",
                             km=f"{outside[0]:,.1f}", code=outside[1])),
                      {"location": "outside_service_area"}, code="outside_service_area")


def _check_duplicates(actor: User | None, customer_id: int | None, category: Any,
                      point: tuple[float, float] | None) -> None:
    found = intake.possible_duplicates(actor, customer_id, category.id, category.kind, point)
    if found:
        raise Conflict(str(_l("This may be an order that is open already. Open it instead, or save anyway.")),
                       {"duplicates": ",".join(o.number for o in found)}, code="possible_duplicate")


def is_unstaffed(order: RepairOrder) -> bool:
    """A placed order nobody took because its station has nobody on shift (the supervisor's queue)."""
    return (order.status == "new" and not order.needs_location and order.station_id is not None
            and not assignment.has_staff_on_shift(order.station_id))


NUMBERING_LOCK = 0x524F  # "RO": PostgreSQL advisory lock class of the day's order numbering


def _next_number(day: datetime) -> str:
    local = day.astimezone(ZoneInfo(current_app.config["TIMEZONE"]))
    prefix = f"RO-{local:%Y%m%d}-"
    if db.engine.dialect.name == "postgresql":
        # Concurrent intakes would all read the same last number and collide at the unique index
        # until the retries ran out (a 409 for ~1 in 15 orders at 16 at once): take turns until
        # commit instead. SQLite's BEGIN IMMEDIATE serialises writers already.
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(:cls, :day)"),
                           {"cls": NUMBERING_LOCK, "day": int(f"{local:%Y%m%d}")})
    # a range, not LIKE: it uses the unique index on number on both databases
    last = db.session.scalar(sa.select(RepairOrder.number).where(RepairOrder.number >= prefix,
                                                                 RepairOrder.number < prefix + "~")
                             .order_by(sa.func.length(RepairOrder.number).desc(), RepairOrder.number.desc())
                             .limit(1))
    return f"{prefix}{int(last.rsplit('-', 1)[1]) + 1 if last else 1:04d}"


def _customer_for(clean: dict[str, Any]) -> customers.Customer:
    if "customer_id" in clean:
        customer = db.session.get(customers.Customer, clean["customer_id"])
        if customer is None:
            raise NotFound(str(_l("No such customer.")), {"customer_id": "unknown"})
        return customer
    fields = {k: clean["new_customer"].get(k) for k in ("name", "phone", "address", "segment", "services")
              if clean["new_customer"].get(k) is not None}
    return customers.create_customer(account_no=f"W{secrets.token_hex(5).upper()}", **fields)


def create_order(data: dict[str, Any], actor: User | None = None, *, default_channel: str = "api",
                 check_duplicates: bool = False) -> RepairOrder:
    """Take a repair order from any channel, place it at a station and assign it where possible.

    The point is the one given, else the customer's. Otherwise the order is kept with
    `needs_location`: when it has an address and a geocoder is set up, `geocode_after` queues it
    for the geocoder job (jobs.geocode_addresses), which looks the address up with no transaction
    open and then places and assigns it — no network call ever runs inside this transaction
    (on SQLite it holds the write lock). Until then a dispatcher may pin it.
    Bad input raises Invalid/NotFound before anything is written. A point farther than
    OUTSIDE_AREA_KM from every station's area is refused (Invalid, code outside_service_area)
    unless `confirm_outside_area`; with `check_duplicates`, an open order of the customer, or an
    open fault of the category within 200 m, is refused (Conflict, code possible_duplicate)
    unless `confirm_duplicate`.
    """
    clean = _validated_intake(data, default_channel)
    if clean["point"] and not clean["confirm_outside_area"]:
        _check_service_area(clean["point"])
    category = category_by_code(clean["category"])
    if clean["kind"] and clean["kind"] != category.kind:
        raise Invalid(str(_l("Please correct the marked fields.")),
                      {"kind": str(_l("category %(code)s is a %(kind)s job", code=category.code, kind=category.kind))})
    if "customer_id" in clean:
        customer = _customer_for(clean)
    else:
        with db.session.begin_nested():  # a bad new customer leaves nothing behind
            customer = _customer_for(clean)
    address = clean["address"] or customer.address
    # the customer's point serves only where the job is at the customer's address
    at_home = address.strip().lower() == (customer.address or "").strip().lower()
    point = clean["point"] or ((customer.lat, customer.lon) if customer.has_point and at_home else None)
    located_by = "given" if clean["point"] else ("customer" if point else None)
    if located_by == "customer" and not clean["confirm_outside_area"]:
        _check_service_area(point)  # type: ignore[arg-type]
    if check_duplicates and not clean["confirm_duplicate"]:
        _check_duplicates(actor, customer.id if "customer_id" in clean else None, category, point)
    geocode_after = now() if point is None and address.strip() and geocoding.is_configured() else None
    policy = policy_for(category.kind, customer.segment)
    reported = clean["reported_at"]
    deadline = reported + timedelta(hours=policy.restore_hours)
    weight = max(category.weight, 1.2) if customer.segment == "business" else category.weight
    order = RepairOrder(customer_id=customer.id, kind=category.kind, category_id=category.id,
                        priority=clean["priority"], channel=clean["channel"], description=clean["description"],
                        address=address, lat=point[0] if point else None, lon=point[1] if point else None,
                        needs_location=point is None, geocode_after=geocode_after, status="new",
                        reported_at=reported, deadline_at=deadline,
                        warn_at=deadline - timedelta(hours=policy.warning_lead_hours), weight=weight,
                        created_at=now(), updated_at=now(), candidates=[], resolution={})
    order.category = category
    order.customer = customer
    # decide station and technician before the insert, so the order is written once
    placed = _place(order) if not order.needs_location else None
    ranked = _choose_technician(order) if placed else []
    for attempt in range(8):
        order.number = _next_number(now())
        try:
            with db.session.begin_nested():
                db.session.add(order)
                db.session.flush()
            break
        except sa.exc.IntegrityError:
            if attempt == 7:
                raise Conflict(str(_l("Could not number the order; try again."))) from None
    add_event(order, "created", actor, at=reported if reported < now() else None, to_status="new",
              channel=order.channel, located_by=located_by, sla_hours=policy.restore_hours)
    if order.geocode_after is not None:
        outbox.mark_work_for_worker()  # the worker looks it up as soon as this commits, not at the next tick
        add_event(order, "note", actor, stored("order.waiting_geocoder"))
    elif order.needs_location:
        add_event(order, "note", actor, stored("order.no_location"))
    elif placed is None:
        add_event(order, "note", actor, stored("order.no_stations"))
    else:
        _record_assignment(order, actor, _placement_message(placed), ranked, "new")
    if clean["confirm_outside_area"] and point is not None:
        outside = intake.km_outside_service_area(*point)
        if outside is not None and outside[0] > float(current_app.config.get("OUTSIDE_AREA_KM", 5.0)):
            add_event(order, "note", actor, stored("order.outside_area", km=f"{outside[0]:,.1f}", code=outside[1]),
                      outside_service_area=True)
    incidents.link_to_open_incident(order)  # a new fault near an open incident joins it at intake
    audit.record("order.create", "repair_order", order.id, actor=actor, number=order.number, channel=order.channel)
    db.session.flush()
    return order


def _place(order: RepairOrder) -> Any:
    """Put the order at the station that serves its point; the placement, or None without stations."""
    with db.session.no_autoflush:
        placement = assignment.place(order.lat, order.lon)  # type: ignore[arg-type]
    if placement is not None:
        order.station = get_station(placement.station_id)
        _set_placement(order, _placement_message(placement))
    return placement


def _placement_message(placement: Any) -> Stored:
    if placement.inside:
        return stored("placement.inside", code=placement.code)
    return stored("placement.nearest", code=placement.code, km=f"{placement.distance_m / 1000:.1f}")


def _set_placement(order: RepairOrder, reason: Stored) -> None:
    order.placement_reason = reason[:120]
    order.placement_code, order.placement_params = reason.code, reason.params


def _place_and_assign(order: RepairOrder, actor: User | None) -> None:
    placement = _place(order)
    if placement is None:
        add_event(order, "note", actor, stored("order.no_stations"))
        return
    _auto_assign(order, actor, _placement_message(placement))


def _choose_technician(order: RepairOrder, exclude: tuple[int, ...] = ()) -> list[assignment.Candidate]:
    """Give the order to the best technician on duty at its station, or leave it waiting there."""
    with db.session.no_autoflush:  # reads of technicians and their workload; this order's changes can wait
        ranked = assignment.rank_technicians(order.station.id, order.category.skill, order.lat, order.lon, exclude)
        tech = db.session.get(User, ranked[0].technician_id) if ranked else None
        # nobody to send here: show whom the nearby stations could lend (a dispatcher decides)
        offered = ranked or assignment.rank_neighbours(order.station.id, order.category.skill, order.lat,
                                                       order.lon, exclude)
    order.candidates = [c.as_json() for c in offered]
    order.technician, order.technician_id = tech, tech.id if tech else None
    order.status = "assigned" if tech else "new"
    order.assigned_at = now() if tech else order.assigned_at
    order.updated_at = now()
    return ranked


def _record_assignment(order: RepairOrder, actor: User | None, reason: str, ranked: list[assignment.Candidate],
                       before: str, event_type: str = "assigned") -> None:
    if ranked:
        note = stored("order.assigned_to", reason=reason, technician=ranked[0].full_name or ranked[0].username)
    elif not assignment.has_staff_on_shift(order.station.id):  # type: ignore[union-attr]
        note = stored("order.no_one_on_shift", reason=reason, code=order.station.code)  # type: ignore[union-attr]
    else:
        note = stored("order.no_technician", reason=reason)
    event = add_event(order, event_type, actor, note, from_status=before, to_status=order.status,
                      station=order.station.code, technician=ranked[0].username if ranked else None, auto=True,
                      reason=reason)
    if ranked:
        _notify_assigned(order, event)


def _auto_assign(order: RepairOrder, actor: User | None, reason: str, exclude: tuple[int, ...] = (),
                 event_type: str = "assigned") -> None:
    before = order.status
    _record_assignment(order, actor, reason, _choose_technician(order, exclude), before, event_type)


@_one_writer
def pin_location(order: RepairOrder, lat: Any, lon: Any, actor: User, *, expected_version: Any = None) -> RepairOrder:
    """Give an order waiting for a location its point, then place and assign it."""
    require_manager(order, actor)
    _check_version(order, expected_version)
    if not order.needs_location:
        raise Conflict(str(_l("This order has a location already.")))
    order.lat, order.lon = check_point(lat, lon)
    order.needs_location = False
    order.geocode_after = None  # the geocoder job has nothing left to do
    add_event(order, "located", actor, lat=order.lat, lon=order.lon)
    _place_and_assign(order, actor)
    audit.record("order.locate", "repair_order", order.id, actor=actor)
    db.session.flush()
    return order


# --------------------------------------------------------------------------- the geocoder job

def awaiting_geocoder(limit: int = 10) -> list[tuple[int, str, int]]:
    """(order id, address, customer id) of the orders whose address the geocoder job looks up now."""
    rows = db.session.execute(
        sa.select(RepairOrder.id, RepairOrder.address, RepairOrder.customer_id)
        .where(RepairOrder.geocode_after <= now(), RepairOrder.needs_location.is_(True),
               RepairOrder.status == "new")
        .order_by(RepairOrder.geocode_after, RepairOrder.id).limit(limit))
    return [(row.id, row.address, row.customer_id) for row in rows]


def record_geocode(order_id: int, address: str, point: tuple[float, float] | None) -> str:
    """The geocoder's answer for a queued order, in a short transaction of its own (the lookup ran
    before it): "located" (placed and assigned, as pinning does), "retry" (tried again later,
    GEOCODER_RETRY_SECONDS doubling), "gave_up" (after GEOCODER_MAX_ATTEMPTS: a dispatcher pins
    it) or "skipped" (pinned, cancelled or changed while the geocoder answered)."""
    order = db.session.get(RepairOrder, order_id)
    if (order is None or order.geocode_after is None or not order.needs_location or order.status != "new"
            or order.address != address):
        return "skipped"
    attempts = order.geocode_attempts + 1
    if point is not None:
        order.lat, order.lon = point
        order.needs_location, order.geocode_after, order.geocode_attempts = False, None, attempts
        add_event(order, "located", None, stored("order.geocoded"), lat=order.lat, lon=order.lon,
                  located_by="geocoder")
        _place_and_assign(order, None)
        incidents.link_to_open_incident(order)  # as at intake: a located fault near an open incident joins it
        audit.record("order.locate", "repair_order", order.id, located_by="geocoder")
        db.session.flush()
        return "located"
    cfg = current_app.config
    if attempts >= int(cfg.get("GEOCODER_MAX_ATTEMPTS", 3)):
        after, outcome = None, "gave_up"
        add_event(order, "note", None, stored("order.geocoder_gave_up", n=attempts))
    else:
        after = now() + timedelta(seconds=float(cfg.get("GEOCODER_RETRY_SECONDS", 60)) * 2 ** (attempts - 1))
        outcome = "retry"
    # a bulk update leaves the version alone: a dispatcher's open pin form stays valid
    db.session.execute(sa.update(RepairOrder).where(RepairOrder.id == order.id)
                       .values(geocode_attempts=attempts, geocode_after=after))
    db.session.flush()
    return outcome


# --------------------------------------------------------------------------- assignment by hand

def require_manager(order: RepairOrder, actor: User) -> None:
    if not _may_manage(order, actor):
        raise Forbidden(str(_l("Only dispatchers and the station's supervisors may do that.")))


@_one_writer
def assign(order: RepairOrder, actor: User, *, technician_id: Any = None, station_code: Any = None,
           reason: Any = "", expected_version: Any = None) -> RepairOrder:
    """A dispatcher's override: give the order to a technician, or move it to another station.

    Moving to a station assigns the best technician there (or leaves it waiting). A change
    of hands needs a reason; the technician who loses the job is told.
    """
    require_manager(order, actor)
    _check_version(order, expected_version)
    if (technician_id is None) == (station_code in (None, "")):
        raise Invalid(str(_l("Give technician_id or station.")), {"technician_id": "one_of", "station": "one_of"})
    if not isinstance(reason, str) or len(reason) > 500:
        raise Invalid(str(_l("Please correct the marked fields.")), {"reason": str(_l("text, at most 500 characters"))})
    reason = reason.strip()
    if order.status not in ASSIGNABLE:
        raise Conflict(str(_l("An order that is %(status)s cannot be reassigned.", status=order.status_label)))
    previous_tech, previous_station, before = order.technician_id, order.station_id, order.status
    is_reassign = previous_tech is not None or (station_code not in (None, "") and previous_station is not None)
    if is_reassign and not reason:
        raise Invalid(str(_l("Say why the order is reassigned.")), {"reason": "required"})
    event_type = "reassigned" if is_reassign else "assigned"
    if technician_id is not None:
        if isinstance(technician_id, bool) or not isinstance(technician_id, int):
            raise Invalid(str(_l("Please correct the marked fields.")), {"technician_id": "not_integer"})
        tech = db.session.get(User, technician_id) if is_id(technician_id) else None
        if tech is None or tech.role != "technician" or not tech.is_enabled:
            raise NotFound(str(_l("No such technician.")), {"technician_id": "unknown"})
        if tech.id == previous_tech:
            raise Conflict(str(_l("The order is with this technician already.")))
        if actor.role == "supervisor" and not in_scope(actor, tech.station_id):
            raise Forbidden(str(_l("You may assign only your station's technicians.")))
        order.station, order.technician_id, order.technician = tech.station, tech.id, tech
        order.status, order.assigned_at, order.updated_at = "assigned", now(), now()
        event = add_event(order, event_type, actor, reason, from_status=before, to_status="assigned",
                          station=tech.station.code if tech.station else None, technician=tech.username,
                          auto=False, has_skill=order.category.skill in (tech.skills or []))
        _notify_assigned(order, event)
    else:
        station = station_by_code(station_code) if isinstance(station_code, str) else None
        if station is None:
            raise NotFound(str(_l("No such station.")), {"station": "unknown"})
        if station.id == previous_station and previous_tech is None:
            raise Conflict(str(_l("The order is at this station already.")))
        order.station = station
        by_hand = stored("placement.by_hand", code=station.code)
        _set_placement(order, by_hand)
        order.technician_id, order.technician, order.status = None, None, "new"
        _auto_assign(order, actor, reason or by_hand, event_type=event_type)
    if previous_tech and previous_tech != order.technician_id:
        taken = add_event(order, "notified", None, stored("order.previous_told"), technician_id=previous_tech)
        _notify_taken_away(order, previous_tech, taken)
    audit.record("order.assign", "repair_order", order.id, actor=actor, technician=order.technician_id,
                 station=order.station_id)
    db.session.flush()
    return order


# --------------------------------------------------------------------------- the life cycle

def _check_actor(order: RepairOrder, action: str, actor: User) -> None:
    if actor.role == "technician":
        if action not in TECHNICIAN_ACTIONS:
            raise Forbidden(str(_l("A technician may not %(action)s an order.", action=action)))
        if order.technician_id != actor.id:
            raise Forbidden(str(_l("This order is not assigned to you.")))
        return
    require_manager(order, actor)


def _part_qty_ok(qty: Any) -> bool:
    """0 < qty <= 1000 as a JSON number (the stock ledger then wants it whole); 10**400 is no error."""
    return not isinstance(qty, str) and (to_float(qty, lo=0, hi=1000) or 0) > 0


def _validated_resolution(payload: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, str] = {}
    code = payload.get("resolution_code")
    if not isinstance(code, str) or not code.strip() or len(code) > 40:
        errors["resolution_code"] = str(_l("required, at most 40 characters"))
    parts = payload.get("parts") or []
    clean_parts: list[dict[str, Any]] = []
    if not isinstance(parts, list):
        errors["parts"] = str(_l("a list of {sku, qty} or {serial}"))
    else:
        for i, part in enumerate(parts):
            if isinstance(part, dict) and isinstance(part.get("serial"), str) and part["serial"].strip():
                clean_parts.append({"serial": part["serial"].strip()[:60]})
            elif (isinstance(part, dict) and isinstance(part.get("sku"), str) and part["sku"].strip()
                  and _part_qty_ok(part.get("qty"))):
                clean_parts.append({"sku": part["sku"].strip()[:40], "qty": part["qty"]})
            else:
                errors[f"parts.{i}"] = str(_l("a list of {sku, qty} or {serial}"))
    out: dict[str, Any] = {"resolution_code": (code or "").strip() if isinstance(code, str) else "",
                           "parts": clean_parts}
    for name in ("loan", "collected"):
        value = payload.get(name)
        if value is None:
            continue
        if not isinstance(value, dict) or not isinstance(value.get("serial"), str) or not value["serial"].strip():
            errors[name] = str(_l("{serial}"))
        else:
            out[name] = {"serial": value["serial"].strip()[:60]}
            if name == "collected" and isinstance(value.get("sku"), str) and value["sku"].strip():
                out[name]["sku"] = value["sku"].strip()[:40]  # a unit inventory never had needs its SKU
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    return out


def _pause(order: RepairOrder, at: datetime) -> None:
    if order.paused_at is None:
        order.paused_at = at


def _unpause(order: RepairOrder, at: datetime) -> None:
    if order.paused_at is None:
        return
    paused = at - order.paused_at
    paused = max(paused, timedelta(0))
    order.paused_seconds += int(paused.total_seconds())
    order.deadline_at += paused
    order.warn_at += paused
    order.paused_at = None


@_one_writer
def transition(order: RepairOrder, action: Any, actor: User, *, note: Any = "", lat: Any = None, lon: Any = None,
               expected_version: Any = None, taken_at: datetime | None = None, **payload: Any) -> RepairOrder:
    """Move an order along the life-cycle graph: 403 for the wrong actor, 409 for the wrong state.

    `taken_at` is when the actor took the action, if earlier than now (a technician's phone sends the
    time of the tap; field checks it first): the step's time, the event's `at` and the SLA clock's
    pauses follow it, while the event's `recorded_at` says when the server got it."""
    if action not in TRANSITIONS:
        raise Invalid(str(_l("Unknown action.")), {"action": str(_l("one of: %(values)s", values=", ".join(ACTIONS)))})
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise Invalid(str(_l("Please correct the marked fields.")), {"note": str(_l("text, at most 1000 characters"))})
    point = check_point(lat, lon) if (lat is not None or lon is not None) else None
    _check_actor(order, action, actor)
    _check_version(order, expected_version)
    sources, target, event_type = TRANSITIONS[action]
    if order.status not in sources:
        raise Conflict(str(_l("An order that is %(status)s cannot take the action %(action)s.",
                              status=order.status_label, action=action)), code="illegal_transition")
    if action == "restore" and order.incident_id is None:
        raise Conflict(str(_l("Only orders of a mass-outage incident are restored together.")),
                       code="illegal_transition")
    before, at = order.status, taken_at or now()
    data: dict[str, Any] = {}
    if action in ("resolve", "restore"):
        resolution = _validated_resolution(payload)
        order.resolution_code, order.resolution = resolution["resolution_code"], resolution
        order.resolved_at = at
        data = {k: v for k, v in resolution.items() if k != "resolution_code"}
        data["resolution_code"] = resolution["resolution_code"]
    elif action == "reopen":
        if order.resolved_at is None or at - order.resolved_at > REOPEN_WINDOW:
            raise Conflict(str(_l("Only orders resolved in the last 7 days can be reopened.")),
                           code="reopen_window")
        policy = policy_for(order.kind, order.customer.segment)
        order.is_repeat = True
        order.deadline_at = at + timedelta(hours=policy.restore_hours)
        order.warn_at = order.deadline_at - timedelta(hours=policy.warning_lead_hours)
        order.escalation_level = 0
        order.resolved_at = order.closed_at = order.resolution_code = None
        order.assigned_at = at
    if action == "decline":
        declined_by = order.technician_id
        event = add_event(order, "declined", actor, note, lat=point and point[0], lon=point and point[1],
                          from_status=before, to_status="new", at=at, technician_id=declined_by)
        order.technician_id, order.technician, order.status = None, None, "new"
        decliners = {e.data.get("technician_id") for e in timeline(order) if e.type == "declined"}
        _auto_assign(order, actor, stored("placement.after_decline"),
                     exclude=tuple(t for t in decliners | {declined_by} if t))
    else:
        order.status = target or ("assigned" if order.technician_id else "new")
        stamp = {"accept": "accepted_at", "depart": "departed_at", "arrive": "arrived_at", "close": "closed_at",
                 "cancel": "cancelled_at"}.get(action)
        if stamp:
            setattr(order, stamp, at)
        if action == "wait_customer" or (action == "wait_parts"
                                         and policy_for(order.kind, order.customer.segment).wait_parts_pauses):
            _pause(order, at)
        elif action in ("resume", "restore"):
            _unpause(order, at)
        event = add_event(order, event_type, actor, note, lat=point and point[0], lon=point and point[1],
                          from_status=before, to_status=order.status, at=at, **data)
        if action == "cancel" and order.technician_id and actor.id != order.technician_id:
            _notify_taken_away(order, order.technician_id, event)
    order.updated_at = now()
    duty = assignment.duty_of(actor.id) if point and actor.role == "technician" else None
    if point and actor.role == "technician" and (duty is None or duty.last_at is None or duty.last_at <= at):
        assignment.record_position(actor.id, point[0], point[1], at)  # never over a newer position
    if action == "resolve":  # a restore books no stock: nobody used parts at the customer's
        stock.book_resolution_stock(order, order.resolution, actor)
    audit.record(f"order.{action}", "repair_order", order.id, actor=actor, status=order.status)
    db.session.flush()
    return order


def allowed_actions(order: RepairOrder, actor: User) -> list[str]:
    """The actions this actor may take on the order now (for buttons)."""
    out = []
    for action, (sources, _t, _e) in TRANSITIONS.items():
        if order.status not in sources:
            continue
        try:
            _check_actor(order, action, actor)
        except Forbidden as err:
            recovered(err)  # only a question: which buttons to show
            continue
        if action == "reopen" and (order.resolved_at is None or now() - order.resolved_at > REOPEN_WINDOW):
            continue
        if action == "restore":  # done from the incident page, for all its orders at once
            continue
        out.append(action)
    return out


def is_open_status(status: str) -> bool:
    return status in OPEN_STATUSES


# --------------------------------------------------------------------------- CSV import

IMPORT_COLUMNS = ("account_no", "category", "description", "address", "lat", "lon", "reported_at", "priority")


def import_orders_csv(text: str | bytes, actor: User) -> customers.ImportReport:
    """Orders from CSV with a header row (account_no, category, description, optional address, lat,
    lon, reported_at, priority); channel `import`. All or nothing: any bad row imports none and
    every bad row is reported with its line number."""
    reader = customers.read_csv(text, ("account_no", "category", "description"))
    report = customers.ImportReport()
    outer = db.session.begin_nested()
    for row in reader:
        line = reader.line_num
        report.rows += 1
        data: dict[str, Any] = {k: (row.get(k) or "").strip() or None for k in IMPORT_COLUMNS}
        customer = customers.customer_by_account(data.pop("account_no") or "")
        if customer is None:
            report.errors.append((line, str(_l("unknown customer account"))))
            continue
        data.update(customer_id=customer.id, channel="import")
        try:
            with db.session.begin_nested():
                create_order(data, actor, default_channel="import")
            report.imported += 1
        except DomainError as err:
            recovered(err)  # the row's savepoint is gone; the report says why
            report.errors.append((line, "; ".join(f"{k}: {v}" for k, v in err.fields.items()) or err.message))
    if report.errors:
        outer.rollback()
        report.imported = 0
    else:
        outer.commit()
        audit.record("order.import", "repair_order", None, actor=actor, rows=report.rows, imported=report.imported)
    return report
