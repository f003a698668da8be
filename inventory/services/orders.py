"""Stock used on repair orders (known by id only), and loaners lent to customers."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core import auth, outbox
from core.access import in_scope, scope_clause
from core.auth import User
from core.db import now
from core.errors import Conflict, Invalid, NotFound
from core.extensions import db
from inventory.messages import stored
from inventory.models import Item, Loan, SerialUnit, StockMove
from inventory.services.catalogue import (
    get_unit,
    home_of,
    item_by_sku,
    level_of,
    location_by_code,
    unit_by_serial,
    van_of,
    whole_number,
)
from inventory.services.ledger import keepers_of, record_move


def issue_parts_for_order(order_id: int, technician: User, parts: Any, *, customer_id: int | None = None,
                          source: str | None = None) -> list[StockMove]:
    """Take the parts a job used out of the technician's van as `issue` moves linked to the order.

    `parts` is a list of {"sku", "qty"} or {"serial"}. Everything is checked first — a shortage
    or a unit that is not in the van refuses the whole list before anything changes.
    """
    if not isinstance(parts, list) or not parts:
        raise Invalid(str(_l("List the parts used.")), {"parts": "required"})
    van = location_by_code(source, "from") if source else van_of(technician)
    if van is None:
        raise Invalid(str(_l("%(user)s has no van.", user=technician.username)), {"parts": "no_van"})
    wanted: dict[int, int] = defaultdict(int)
    items: dict[int, Item] = {}
    serials: set[str] = set()
    for i, part in enumerate(parts):
        if not isinstance(part, dict):
            raise Invalid(str(_l("Each part is {\"sku\", \"qty\"} or {\"serial\"}.")), {f"parts[{i}]": "invalid"})
        if part.get("serial") not in (None, ""):
            unit = unit_by_serial(part.get("serial"))
            if unit is None:
                raise Invalid(str(_l("No unit with serial %(serial)s.", serial=str(part["serial"])[:60])),
                              {f"parts[{i}]": "unknown_serial"})
            if unit.location_id != van.id:
                raise Conflict(str(_l("Unit %(serial)s is at %(code)s, not there.", serial=unit.serial,
                                      code=unit.location.code)), {f"parts[{i}]": "elsewhere"})
            if unit.serial in serials:
                raise Invalid(str(_l("Unit %(serial)s is listed twice.", serial=unit.serial)),
                              {f"parts[{i}]": "duplicate"})
            serials.add(unit.serial)
            continue
        item = item_by_sku(part.get("sku"))
        if item.is_serialized:
            raise Invalid(str(_l("%(sku)s is serialized: give the unit's serial number.", sku=item.sku)),
                          {f"parts[{i}]": "serial_required"})
        wanted[item.id] += whole_number(part.get("qty"), "qty", lo=1)
        items[item.id] = item
    for item_id, n in wanted.items():
        have = level_of(van, items[item_id])
        if have < n:
            raise Conflict(str(_l("%(code)s holds %(have)d × %(sku)s; %(n)d cannot be taken.", code=van.code,
                                  have=have, sku=items[item_id].sku, n=n)), {"parts": "not_enough"})
    moves = [record_move("issue", sku=items[item_id].sku, qty=n, source=van.code, order_id=order_id,
                         customer_id=customer_id, actor=technician, reason="order")
             for item_id, n in wanted.items()]
    moves += [record_move("issue", serial=s, source=van.code, order_id=order_id, customer_id=customer_id,
                          actor=technician, reason="order") for s in sorted(serials)]
    return moves


def lend_loaner(order_id: int | None, customer_id: int, serial: str, actor: User, *,
                due_at: datetime | None = None) -> Loan:
    """Lend a spare unit to a customer (by the technician from their van, or by a stock keeper from the store)."""
    unit = unit_by_serial(serial)
    if unit is None:
        raise Invalid(str(_l("No unit with serial %(serial)s.", serial=str(serial)[:60])), {"serial": "unknown"})
    if unit.location.kind not in ("store", "van"):
        raise Conflict(str(_l("Unit %(serial)s is at %(code)s, not there.", serial=unit.serial,
                              code=unit.location.code)), {"serial": "elsewhere"})
    record_move("loan_out", serial=unit.serial, source=unit.location.code, order_id=order_id,
                customer_id=customer_id, actor=actor, due_at=due_at, reason="loaner")
    return db.session.scalar(sa.select(Loan).where(Loan.unit_id == unit.id, Loan.returned_at.is_(None)))  # type: ignore[return-value]


def return_loaner(serial: str, actor: User, *, target: str | None = None) -> Loan:
    """The customer gives the loaner back: into the technician's van, or the keeper's store.

    Only a loan of the actor's station scope can be closed; another station's is not on loan for them.
    """
    unit = unit_by_serial(serial)
    loan = unit and db.session.scalar(sa.select(Loan).where(Loan.unit_id == unit.id, Loan.returned_at.is_(None)))
    if unit is None or loan is None or not in_scope(actor, loan.station_id):
        raise Invalid(str(_l("Unit %(serial)s is not on loan.", serial=str(serial)[:60])), {"serial": "not_on_loan"})
    dest = target or home_of(actor)
    record_move("loan_in", serial=unit.serial, target=dest, order_id=loan.order_id, actor=actor,
                reason="loaner back")
    db.session.refresh(loan)
    return loan


def collect_faulty_unit(serial: str, actor: User, *, sku: str | None = None, customer_id: int | None = None,
                        order_id: int | None = None, target: str | None = None, reason: str = "") -> SerialUnit:
    """Bring a customer's faulty unit back (a unit we never had is entered here, with its SKU)."""
    record_move("return", serial=serial, sku=sku, target=target or home_of(actor), customer_id=customer_id,
                order_id=order_id, actor=actor, faulty=True, reason=reason or "faulty unit collected")
    return get_unit(serial)


def get_loan(loan_id: int, viewer: User | None = None) -> Loan:
    """A loan; with a viewer, only one of their station scope (else NotFound, as for a wrong id)."""
    loan = db.session.get(Loan, loan_id)
    if loan is None or (viewer is not None and not in_scope(viewer, loan.station_id)):
        raise NotFound(str(_l("No such loan.")))
    return loan


def loans_query(*, overdue_only: bool = False, open_only: bool = True, station_id: int | None = None,
                viewer: Any = None):
    """Loans by due date; `viewer` keeps those of the viewer's station scope."""
    stmt = sa.select(Loan).order_by(Loan.due_at)
    if viewer is not None:
        stmt = stmt.where(scope_clause(viewer, Loan.station_id))
    if open_only or overdue_only:
        stmt = stmt.where(Loan.returned_at.is_(None))
    if overdue_only:
        stmt = stmt.where(Loan.due_at < now())
    if station_id:
        stmt = stmt.where(Loan.station_id == station_id)
    return stmt


def remind_overdue_loans() -> int:
    """Remind the lender and the station's stock keepers of each overdue loan, once per loan."""
    t = now()
    due = list(db.session.scalars(sa.select(Loan).where(
        Loan.returned_at.is_(None), Loan.reminded_at.is_(None), Loan.due_at < t).order_by(Loan.due_at).limit(500)))
    for loan in due:
        recipients = {u.id: u for u in keepers_of(loan.station_id)}
        if loan.lent_by_id and (lender := auth.get_user(loan.lent_by_id)) is not None and lender.is_enabled:
            recipients[lender.id] = lender
        for user in recipients.values():
            outbox.enqueue("loan_overdue", user, cause=f"inventory-loan:{loan.id}",
                           message=stored("alert.loan_overdue", serial=loan.unit.serial,
                                          acc=loan.customer.account_no, due=loan.due_at.strftime("%Y-%m-%d")),
                           url=f"/inventory/units/{loan.unit.serial}", order_id=loan.order_id)
        loan.reminded_at = t
    db.session.flush()
    return len(due)
