"""The stock ledger: `record_move`, the one way stock changes, and what is built on it.

Every change of stock is one `record_move` call: it validates everything first (nothing is
written when it refuses), then moves the serial unit with a guarded UPDATE, changes the levels
with guarded UPDATEs (`qty >= n`) so that concurrent moves can never drive a level negative,
and appends the ledger row. Services flush; the caller commits.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql, sqlite

from core import audit, auth, outbox
from core.auth import User
from core.customers import Customer
from core.db import now
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from inventory.messages import stored
from inventory.models import MOVE_LABELS, MOVE_TYPES, Item, Loan, Location, SerialUnit, StockLevel, StockMove
from inventory.services.catalogue import (
    item_by_sku,
    level_of,
    location_by_code,
    may_see_location,
    require_keeper,
    unit_by_serial,
    whole_number,
)

LOAN_DAYS = 14

# Which kinds of place each move may come from and go to (None: no place on that side).
MOVE_RULES: dict[str, tuple[tuple[str | None, ...], tuple[str | None, ...]]] = {
    "receive": (("supplier",), ("store", "van")),
    "transfer": (("store", "van"), ("store", "van")),
    "issue": (("store", "van"), ("customer",)),
    "consume": (("store", "van"), ("customer",)),
    "return": (("customer",), ("store", "van")),
    "adjust": (("store", "van", "repair", None), ("store", "van", "repair", None)),
    "scrap": (("store", "van", "repair"), ("scrap",)),
    "repair_out": (("store", "van"), ("repair",)),
    "repair_in": (("repair",), ("store", "van")),
    "loan_out": (("store", "van"), ("customer",)),
    "loan_in": (("customer",), ("store", "van")),
}
DEFAULT_FROM = {"receive": "SUPPLIER", "return": "CUSTOMERS", "loan_in": "CUSTOMERS", "repair_in": "REPAIR"}
DEFAULT_TO = {"issue": "CUSTOMERS", "consume": "CUSTOMERS", "loan_out": "CUSTOMERS", "scrap": "SCRAP",
              "repair_out": "REPAIR"}
TECHNICIAN_MOVES = ("issue", "consume", "return", "loan_out", "loan_in")
SERIAL_ONLY = ("loan_out", "loan_in")
UNSERIALIZED_ONLY = ("consume", "adjust")  # a lost or found unit is scrapped or received


# --- permissions -----------------------------------------------------------


def _check_place(actor: User, loc: Location | None, side: str, move_type: str = "") -> None:
    """May this person take from / put into this place? Stock keepers: their station; technicians: their van."""
    if loc is None or actor is None or actor.role == "admin":
        return
    if not loc.is_tracked and loc.kind != "store":
        return  # suppliers, customers, scrap: the outside world
    if actor.role == "stockkeeper":
        ok = loc.kind == "repair" or loc.station_id == actor.station_id
        # a keeper may send stock on to another station's store (but not take it from there)
        ok = ok or (side == "to" and move_type == "transfer" and loc.kind == "store")
        if ok:
            return
    elif actor.role == "technician" and move_type in TECHNICIAN_MOVES:
        if loc.kind == "van" and loc.technician_id == actor.id:
            return
    raise Forbidden(str(_l("You may not move stock at %(code)s.", code=loc.code)), {side: "not_yours"})


# --- the ledger ------------------------------------------------------------

@dataclass
class MoveRequest:
    type: str
    item: Item
    qty: int
    unit: SerialUnit | None
    new_serial: str | None
    source: Location | None
    target: Location | None


def _parse_move(type: Any, sku: Any, qty: Any, serial: Any, source: Any, target: Any, reason: str,
                customer_id: Any) -> MoveRequest:
    if type not in MOVE_TYPES:
        raise Invalid(str(_l("Unknown move type: %(t)s", t=str(type)[:20])), {"type": "unknown"})
    has_serial = serial not in (None, "")
    if has_serial and not isinstance(serial, str):
        raise Invalid(str(_l("A serial number is text.")), {"serial": "not_text"})
    serial_text = serial.strip().upper() if has_serial else None
    if has_serial and not (0 < len(serial_text) <= 60):
        raise Invalid(str(_l("A serial number has 1–60 characters.")), {"serial": "invalid"})
    unit = unit_by_serial(serial_text) if has_serial else None
    if unit is not None:
        item = unit.item
        if sku not in (None, "") and item_by_sku(sku).id != item.id:
            raise Invalid(str(_l("Unit %(serial)s is a %(sku)s.", serial=unit.serial, sku=item.sku)),
                          {"sku": "mismatch"})
    else:
        item = item_by_sku(sku)
    if item.is_serialized:
        if qty not in (None, "", 1, "1"):
            raise Invalid(str(_l("%(sku)s is serialized: move units by serial number, not by quantity.",
                                 sku=item.sku)), {"qty": "serialized"})
        if not has_serial:
            raise Invalid(str(_l("%(sku)s is serialized: give the unit's serial number.", sku=item.sku)),
                          {"serial": "required"})
        qty_n = 1
    else:
        if has_serial:
            raise Invalid(str(_l("%(sku)s is not serialized: give a quantity, not a serial number.",
                                 sku=item.sku)), {"serial": "not_serialized"})
        qty_n = whole_number(qty, "qty", lo=1)
    if type in SERIAL_ONLY and not item.is_serialized:
        raise Invalid(str(_l("Only serialized units can be lent.")), {"type": "serialized_only"})
    if type in UNSERIALIZED_ONLY and item.is_serialized:
        raise Invalid(str(_l("Serialized units are issued, scrapped or received, not consumed or adjusted.")),
                      {"type": "unserialized_only"})
    src = location_by_code(source, "from") if source not in (None, "") else None
    dst = location_by_code(target, "to") if target not in (None, "") else None
    if src is None and type in DEFAULT_FROM:
        src = location_by_code(DEFAULT_FROM[type], "from")
    if dst is None and type in DEFAULT_TO:
        dst = location_by_code(DEFAULT_TO[type], "to")
    froms, tos = MOVE_RULES[type]
    if src is not None and dst is not None and src.id == dst.id:
        raise Invalid(str(_l("From and to are the same place.")), {"to": "same_as_from"})
    if type == "adjust":
        if (src is None) == (dst is None):
            raise Invalid(str(_l("An adjustment names either a from place (less) or a to place (more).")),
                          {"from": "one_side", "to": "one_side"})
        if not reason.strip():
            raise Invalid(str(_l("Say why the stock is adjusted.")), {"reason": "required"})
    else:
        if src is None:
            raise Invalid(str(_l("Give the from location.")), {"from": "required"})
        if dst is None:
            raise Invalid(str(_l("Give the to location.")), {"to": "required"})
    if src is not None and src.kind not in froms:
        raise Invalid(str(_l("%(type)s cannot come from %(code)s.", type=MOVE_LABELS[type], code=src.code)),
                      {"from": "wrong_kind"})
    if dst is not None and dst.kind not in tos:
        raise Invalid(str(_l("%(type)s cannot go to %(code)s.", type=MOVE_LABELS[type], code=dst.code)),
                      {"to": "wrong_kind"})
    if type == "loan_out" and customer_id in (None, ""):
        raise Invalid(str(_l("Say which customer gets the loaner.")), {"customer": "required"})
    new_serial = None
    if item.is_serialized and unit is None:
        if type == "receive" or (type == "return" and src is not None and src.kind == "customer"):
            new_serial = serial_text  # a unit that enters our books here
        else:
            raise Invalid(str(_l("No unit with serial %(serial)s.", serial=serial_text)), {"serial": "unknown"})
    return MoveRequest(type, item, qty_n, unit, new_serial, src, dst)


def _unit_status_after(req: MoveRequest, faulty: bool) -> str:
    dst = req.target
    assert dst is not None  # serialized units are never adjusted
    if dst.kind == "customer":
        return "on_loan" if req.type == "loan_out" else "installed"
    if dst.kind == "repair":
        return "in_repair"
    if dst.kind == "scrap":
        return "scrapped"
    was_faulty = req.unit is not None and req.unit.status == "faulty" and req.type != "repair_in"
    if faulty or was_faulty:
        return "faulty"
    return "in_store" if dst.kind == "store" else "in_van"


def record_move(type: str, *, sku: str | None = None, qty: Any = None, serial: str | None = None,
                source: str | None = None, target: str | None = None, reason: str | None = "",
                order_id: Any = None, customer_id: Any = None, actor: User | None = None, faulty: bool = False,
                due_at: datetime | None = None) -> StockMove:
    """Append one move to the ledger and follow it in the levels and the unit. The one way stock changes.

    Refuses (a DomainError, nothing written) bad quantities, unknown SKUs, serials on plain
    items and quantities on serialized ones, a move to the same place, more than is there (409),
    a unit that is elsewhere (409), and places the actor may not touch (403).
    """
    if actor is None:
        raise Forbidden(str(_l("Say who moves the stock.")))
    if actor.role not in ("admin", "stockkeeper", "technician"):
        raise Forbidden(str(_l("Your role may not move stock.")))
    reason = reason if isinstance(reason, str) else ""
    if len(reason) > 255:
        raise Invalid(str(_l("The reason must be at most 255 characters.")), {"reason": "too_long"})
    order_n = None if order_id in (None, "") else whole_number(order_id, "order", lo=1, hi=2**31 - 1)
    customer = None
    if customer_id not in (None, ""):
        customer = db.session.get(Customer, whole_number(customer_id, "customer", lo=1, hi=2**31 - 1))
        if customer is None:
            raise Invalid(str(_l("No such customer.")), {"customer": "unknown"})
    req = _parse_move(type, sku, qty, serial, source, target, reason, customer_id)
    if actor.role == "technician" and type not in TECHNICIAN_MOVES:
        raise Forbidden(str(_l("Technicians use parts through their jobs; ask the stock keeper.")))
    _check_place(actor, req.source, "from", type)
    _check_place(actor, req.target, "to", type)
    unit = req.unit
    if unit is not None and type == "receive":
        raise Conflict(str(_l("Unit %(serial)s exists already.", serial=unit.serial)), {"serial": "exists"})
    if unit is not None and type == "loan_in" and unit.status != "on_loan":
        raise Conflict(str(_l("Unit %(serial)s is not on loan.", serial=unit.serial)), {"serial": "not_on_loan"})
    if unit is not None:
        if req.source is None or unit.location_id != req.source.id:
            raise Conflict(str(_l("Unit %(serial)s is at %(code)s, not there.", serial=unit.serial,
                                  code=unit.location.code)), {"serial": "elsewhere"})
        if unit.status == "on_loan" and type != "loan_in":
            raise Conflict(str(_l("Unit %(serial)s is on loan; take it back as a loan return.", serial=unit.serial)),
                           {"serial": "on_loan"})
        if unit.status == "faulty" and type in ("issue", "loan_out"):
            raise Conflict(str(_l("Unit %(serial)s is faulty.", serial=unit.serial)), {"serial": "faulty"})
        if type == "loan_in" and (customer is not None and unit.customer_id != customer.id):
            raise Conflict(str(_l("Unit %(serial)s is not lent to that customer.", serial=unit.serial)),
                           {"customer": "mismatch"})
    elif req.new_serial is not None and unit_by_serial(req.new_serial) is not None:
        raise Conflict(str(_l("Unit %(serial)s exists already.", serial=req.new_serial)), {"serial": "exists"})
    if type == "loan_out" and db.session.scalar(sa.select(Loan.id).where(
            Loan.unit_id == unit.id, Loan.returned_at.is_(None))) is not None:  # type: ignore[union-attr]
        raise Conflict(str(_l("Unit %(serial)s is on loan.", serial=unit.serial)), {"serial": "on_loan"})

    t = now()
    # No savepoint (pysqlite would COMMIT on releasing one that opened the transaction): instead the
    # first write of a move is the only one that can refuse, so a refusal leaves nothing written.
    if unit is not None:
        status = _unit_status_after(req, faulty)
        new_customer = unit.customer_id
        if type in ("issue", "loan_out") and customer is not None:
            new_customer = customer.id
        elif type == "loan_in":
            new_customer = None
        moved = db.session.execute(
            sa.update(SerialUnit)
            .where(SerialUnit.id == unit.id, SerialUnit.location_id == req.source.id)  # type: ignore[union-attr]
            .values(location_id=req.target.id if req.target else req.source.id,  # type: ignore[union-attr]
                    status=status, customer_id=new_customer, updated_at=t)
            .execution_options(synchronize_session=False)).rowcount
        if moved != 1:
            raise Conflict(str(_l("Unit %(serial)s was just moved by someone else.", serial=unit.serial)),
                           {"serial": "elsewhere"})
    elif req.new_serial is not None:
        status = _unit_status_after(req, faulty)
        unit = SerialUnit(serial=req.new_serial, item_id=req.item.id, status=status,
                          location_id=req.target.id, customer_id=customer.id if customer else None,  # type: ignore[union-attr]
                          updated_at=t)
        db.session.add(unit)
        try:
            db.session.flush()
        except sa.exc.IntegrityError:  # received by someone else a moment ago; the edge rolls back
            raise Conflict(str(_l("Unit %(serial)s exists already.", serial=req.new_serial)),
                           {"serial": "exists"}) from None
    fell = _apply_levels(req)
    move = StockMove(type=type, item_id=req.item.id, qty=req.qty, serial_unit_id=unit.id if unit else None,
                     from_location_id=req.source.id if req.source else None,
                     to_location_id=req.target.id if req.target else None, reason=reason.strip(),
                     order_id=order_n, customer_id=customer.id if customer else None, actor_id=actor.id, at=t)
    db.session.add(move)
    if type == "loan_out":
        db.session.add(Loan(unit_id=unit.id, customer_id=customer.id, order_id=order_n,  # type: ignore[union-attr]
                            station_id=req.source.station_id, lent_by_id=actor.id,  # type: ignore[union-attr]
                            lent_at=t, due_at=max(due_at or t + timedelta(days=LOAN_DAYS), t)))
    elif type == "loan_in":
        db.session.execute(sa.update(Loan).where(Loan.unit_id == unit.id, Loan.returned_at.is_(None))  # type: ignore[union-attr]
                           .values(returned_at=t).execution_options(synchronize_session=False))
    elif type == "repair_in" and unit is not None and unit.customer_id is not None:
        # the customer's own unit is back: their loaner is due now
        db.session.execute(sa.update(Loan).where(
            Loan.customer_id == unit.customer_id, Loan.returned_at.is_(None), Loan.due_at > t)
            .values(due_at=t).execution_options(synchronize_session=False))
    db.session.flush()
    if unit is not None:
        db.session.expire(unit)
    for level_id in fell:
        _alert_low(level_id)
    return move


def _apply_levels(req: MoveRequest) -> list[int]:
    """Take from the source, then add to the target; returns the levels that just fell below their reorder point.

    The guarded decrement is the move's first level write, so a shortage refuses before anything
    changes. On PostgreSQL both rows are first locked in id order, so opposite transfers cannot deadlock.
    `is_low` is kept equal to `qty < reorder_point` in the same statements, and `low_crossings`
    counts the crossings, which key the alerts (one per crossing).
    """
    source = req.source if req.source is not None and req.source.is_tracked else None
    target = req.target if req.target is not None and req.target.is_tracked else None
    n, fell = req.qty, []
    if source is not None and target is not None and db.engine.dialect.name == "postgresql":
        db.session.execute(sa.select(StockLevel.id).where(
            StockLevel.item_id == req.item.id, StockLevel.location_id.in_((source.id, target.id)))
            .order_by(StockLevel.id).with_for_update())
    if source is not None:
        # The guarded update: the row lock and the `qty >= n` test are one statement.
        left = StockLevel.qty - n
        row = db.session.execute(
            sa.update(StockLevel)
            .where(StockLevel.location_id == source.id, StockLevel.item_id == req.item.id, StockLevel.qty >= n)
            .values(qty=left, is_low=left < StockLevel.reorder_point,
                    low_crossings=StockLevel.low_crossings + sa.case(
                        (sa.and_(StockLevel.qty >= StockLevel.reorder_point, left < StockLevel.reorder_point), 1),
                        else_=0))
            .returning(StockLevel.id, StockLevel.qty, StockLevel.reorder_point)
            .execution_options(synchronize_session=False)).first()
        if row is None:
            have = level_of(source, req.item)
            raise Conflict(str(_l("%(code)s holds %(have)d × %(sku)s; %(n)d cannot be taken.",
                                  code=source.code, have=have, sku=req.item.sku, n=n)),
                           {"qty": "not_enough"})
        if row.qty < row.reorder_point <= row.qty + n:
            fell.append(row.id)
    if target is not None:
        point = (req.item.reorder_point if target.kind == "store"
                 else req.item.van_reorder_point if target.kind == "van" else 0)
        insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
        stmt = insert(StockLevel).values(location_id=target.id, item_id=req.item.id, qty=n, reorder_point=point,
                                         reorder_qty=req.item.reorder_qty if target.kind == "store" else point,
                                         is_low=n < point, low_crossings=0)
        total = StockLevel.qty + stmt.excluded.qty
        db.session.execute(stmt.on_conflict_do_update(
            index_elements=["location_id", "item_id"],
            set_={"qty": total, "is_low": total < StockLevel.reorder_point}))
    return fell


def _alert_low(level_id: int) -> None:
    """Tell the station's stock keepers that a level fell below its reorder point (once per crossing)."""
    level = db.session.get(StockLevel, level_id, populate_existing=True)
    assert level is not None
    for keeper in keepers_of(level.location.station_id):
        outbox.enqueue(
            "stock_low", keeper, cause=f"inventory-low:{level.id}:{level.low_crossings}",
            message=stored("alert.stock_low", sku=level.item.sku, code=level.location.code, qty=level.qty,
                           point=level.reorder_point, n=level.suggested_qty),
            url=f"/inventory/?location={level.location.code}", topic=f"low-{level.id}")


def keepers_of(station_id: int | None) -> list[Any]:
    if station_id is None:
        return list(db.session.scalars(auth.users_query(role="admin").where(auth.User.is_enabled.is_(True))))
    return list(db.session.scalars(auth.users_query(role="stockkeeper", station_id=station_id)
                                   .where(auth.User.is_enabled.is_(True))))


def set_reorder(level_id: int, reorder_point: Any, reorder_qty: Any, actor: User) -> StockLevel:
    level = db.session.get(StockLevel, level_id)
    if level is None or not may_see_location(actor, level.location):  # another station's: not there for them
        raise NotFound(str(_l("No such stock level.")))
    _check_place(actor, level.location, "to")
    level.reorder_point = whole_number(reorder_point, "reorder_point")
    level.reorder_qty = whole_number(reorder_qty, "reorder_qty")
    crossed = not level.is_low and level.qty < level.reorder_point
    level.is_low = level.qty < level.reorder_point
    level.low_crossings += int(crossed)
    db.session.flush()
    if crossed:
        _alert_low(level.id)
    audit.record("inventory.reorder.set", "inventory_stock_level", level.id, actor=actor)
    return level


# --- cycle count -----------------------------------------------------------

def cycle_count(location_code: str, counts: dict[str, Any], reason: str, actor: User) -> list[StockMove]:
    """Turn counted quantities into adjust moves for the variances (uncounted items are left alone)."""
    require_keeper(actor)
    loc = location_by_code(location_code)
    if not loc.is_tracked:
        raise Invalid(str(_l("Only stores, vans and the repair centre are counted.")), {"location": "not_counted"})
    if not (reason or "").strip():
        raise Invalid(str(_l("Say why the stock is adjusted.")), {"reason": "required"})
    plan = []
    for sku, raw in counts.items():
        if raw in (None, ""):
            continue
        item = item_by_sku(sku)
        if item.is_serialized:
            raise Invalid(str(_l("Count serialized units by scanning them, not by quantity.")), {sku: "serialized"})
        counted = whole_number(raw, sku)
        plan.append((item, counted - level_of(loc, item)))
    moves = []
    for item, variance in plan:
        if variance > 0:
            moves.append(record_move("adjust", sku=item.sku, qty=variance, target=loc.code, reason=reason, actor=actor))
        elif variance < 0:
            moves.append(record_move("adjust", sku=item.sku, qty=-variance, source=loc.code, reason=reason, actor=actor))
    return moves


def receive_batch(sku: str, target: str, actor: User, *, qty: Any = None, serials: Iterable[str] = (),
                  reason: str = "") -> list[StockMove]:
    """A delivery: a quantity of a plain item, or one move per scanned serial (one per line)."""
    clean = [s.strip().upper() for s in serials if s and s.strip()]
    if len(set(clean)) != len(clean):
        raise Invalid(str(_l("A serial number is scanned twice.")), {"serials": "duplicate"})
    item = item_by_sku(sku)
    if item.is_serialized:
        if not clean:
            raise Invalid(str(_l("%(sku)s is serialized: give the unit's serial number.", sku=item.sku)),
                          {"serials": "required"})
        taken = [s for s in clean if unit_by_serial(s) is not None]
        if taken:
            raise Conflict(str(_l("Unit %(serial)s exists already.", serial=", ".join(taken[:5]))),
                           {"serials": "exists"})
        return [record_move("receive", sku=item.sku, serial=s, target=target, actor=actor, reason=reason)
                for s in clean]
    return [record_move("receive", sku=item.sku, qty=qty, serial=clean[0] if clean else None, target=target,
                        actor=actor, reason=reason)]
