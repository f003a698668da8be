"""The deadline clock: warnings before the deadline, escalations after it — each exactly once.

The ladder of an order (its SlaPolicy): a warning `warning_lead_hours` before the deadline
(to the technician and every enabled dispatcher — dispatchers have no station and no shift
record, so all of them get it); at the deadline the order is breached and escalated to
level 1 (the station's supervisors; when the station has none, the centre managers, so the
alert is not lost); `escalation_step_hours` later to level 2 (the centre managers:
supervisors without a station, and admins).

Exactly once: each job selects what is due and not yet done with an indexed query, and in
one transaction per batch writes the SlaAlert row (unique per order, kind, level and
reopening cycle — the database refuses a second one), the OrderEvent, the outbox rows and
the order's new escalation level. A process that dies before the commit leaves nothing;
the next tick (any process) finds the same rows still due. Alerts that fell due while no
scheduler ran are simply due at the next tick. Paused orders (paused_at set: waiting on the
customer, or on parts when the policy says so) are skipped; resuming moves their deadline.
A warning whose deadline has passed before it went out is superseded by the escalation.

State and escalation (the rules are in dispatch/orders/models.py): an order's deadline state is frozen
while its clock is paused — paused after its deadline it stays overdue on every page and in every
queue — but the ladder only climbs while the clock runs (`RepairOrder.is_running`): a paused order
gets no warning and no further level until it is resumed. Its deadline then moves on by the
pause, so an order paused after its deadline is still past it and escalates at the next tick.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Iterator

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.exc import StaleDataError

from core import audit, outbox
from core.access import in_scope, scope_clause, sees_all_stations
from core.auth import User
from core.db import now
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.i18n import iso_local
from core.messages import Stored
from core.extensions import db
from core.parse import ids_from, is_id
from dispatch.orders.models import OrderEvent, RepairOrder, SlaPolicy
from dispatch.deadlines.messages import stored
from dispatch.orders.services.orders import add_event
from dispatch.orders.services.reference import policy_for
from dispatch.deadlines.models import SlaAlert
from dispatch.orders.models import RUNNING_PREDICATE

log = logging.getLogger(__name__)

BATCH = 200  # orders per transaction (and per page of the due queries)
LEVELS = (1, 2)
# The literal predicates of the partial indexes (sla_models), so both databases can prove the
# query implies them (a bound parameter would hide the values from the planner).
AT_LEVEL = {level: sa.text(f"{RUNNING_PREDICATE} AND escalation_level = {level}") for level in (0, 1)}


# --------------------------------------------------------------------------- the ladder

def ladder(order: RepairOrder, policy: SlaPolicy) -> dict[str, datetime]:
    """When each alert of the order's current cycle falls due (deadline_at already includes past pauses)."""
    return {"warning": order.warn_at, "level1": order.deadline_at,
            "level2": order.deadline_at + timedelta(hours=policy.escalation_step_hours)}


def due_levels(order: RepairOrder, policy: SlaPolicy, at: datetime) -> list[int]:
    """The escalation levels above the order's current one that are due at `at` (none while paused)."""
    if not order.is_running:
        return []
    steps = ladder(order, policy)
    return [lvl for lvl in LEVELS if lvl > order.escalation_level and at >= steps[f"level{lvl}"]]


def cycle_expr() -> Any:
    """The order's reopening count (0 for orders never reopened, without touching the events)."""
    reopened = (sa.select(sa.func.count()).select_from(OrderEvent)
                .where(OrderEvent.order_id == RepairOrder.id, OrderEvent.type == "reopened")
                .correlate(RepairOrder).scalar_subquery())
    return sa.case((RepairOrder.is_repeat.is_(True), reopened), else_=0)


def _warned_clause() -> Any:
    return sa.exists().where(SlaAlert.order_id == RepairOrder.id, SlaAlert.kind == "warning",
                             SlaAlert.cycle == cycle_expr())


def due_warnings_query(at: datetime) -> Any:
    """Ids of running, unescalated orders past their warn time and not warned in this cycle.

    Orders past the deadline too are left to the escalation job (filtered out in Python: a
    deadline test here would tempt the planner into a deadline index that fits worse)."""
    return (sa.select(RepairOrder.id).where(AT_LEVEL[0], RepairOrder.warn_at <= at, ~_warned_clause())
            .order_by(RepairOrder.warn_at))


def due_escalations_query(at: datetime, level: int, min_step: timedelta) -> Any:
    """Ids of running orders one below `level` whose `level` may be due (the policy decides per order)."""
    limit = at if level == 1 else at - min_step
    return (sa.select(RepairOrder.id).where(AT_LEVEL[level - 1], RepairOrder.deadline_at <= limit)
            .order_by(RepairOrder.deadline_at))


# --------------------------------------------------------------------------- per-run caches

class _Run:
    """What one job run looks up again and again: policies and the people to alert."""

    def __init__(self, at: datetime) -> None:
        self.at = at
        self._policies: dict[tuple[str, str | None], SlaPolicy] = {}
        self._supervisors: dict[int | None, list[User]] = {}
        self._dispatchers: list[User] | None = None
        self._managers: list[User] | None = None
        self.alerts = 0

    def policy(self, order: RepairOrder) -> SlaPolicy:
        key = (order.kind, order.customer.segment)
        if key not in self._policies:
            self._policies[key] = policy_for(*key)
        return self._policies[key]

    def dispatchers(self) -> list[User]:
        if self._dispatchers is None:
            self._dispatchers = _enabled(User.role == "dispatcher")
        return self._dispatchers

    def centre_managers(self) -> list[User]:
        if self._managers is None:
            self._managers = _enabled(sa.or_(User.role == "admin",
                                             sa.and_(User.role == "supervisor", User.station_id.is_(None))))
        return self._managers

    def supervisors(self, station_id: int | None) -> list[User]:
        if station_id is None:
            return []
        if station_id not in self._supervisors:
            self._supervisors[station_id] = _enabled(User.role == "supervisor", User.station_id == station_id)
        return self._supervisors[station_id]


def _enabled(*where: Any) -> list[User]:
    return list(db.session.scalars(sa.select(User).where(User.is_enabled.is_(True), *where).order_by(User.id)))


def page_query(stmt: Any, key: Any) -> Any:
    """The first page of a due query: (id, key) in key order, BATCH rows."""
    return stmt.add_columns(key).order_by(None).order_by(key, RepairOrder.id).limit(BATCH)


def due_pages(stmt: Any, key: Any) -> Iterator[list[int]]:
    """The due query's ids, BATCH at a time in (key, id) order; each page is read after the previous
    one was committed. A small LIMIT in index order also makes PostgreSQL walk the partial index
    that matches the ORDER BY instead of scanning a whole one it misjudges (its statistics are
    dominated by the closed orders)."""
    last: tuple[Any, int] | None = None
    while True:
        page = page_query(stmt, key)
        if last is not None:
            page = page.where(key >= last[0], sa.not_(sa.and_(key == last[0], RepairOrder.id <= last[1])))
        rows = db.session.execute(page).all()
        if not rows:
            return
        yield [row[0] for row in rows]
        if len(rows) < BATCH:
            return
        last = (rows[-1][1], rows[-1][0])


def _load(ids: list[int]) -> list[tuple[RepairOrder, int]]:
    rows = db.session.execute(sa.select(RepairOrder, cycle_expr()).where(RepairOrder.id.in_(ids))
                              .order_by(RepairOrder.id)).unique().all()
    return [(order, int(cycle)) for order, cycle in rows]


def _after_first_alert(run: _Run) -> None:
    """Test hook: die like a killed process after the first alert of a batch is flushed, before commit."""
    run.alerts += 1
    if run.alerts == 1 and current_app.config.get("SLA_CRASH_AFTER_FIRST_ALERT"):
        log.warning("SLA_CRASH_AFTER_FIRST_ALERT: exiting mid-batch")
        os._exit(70)


def _stamp(value: datetime) -> str:
    return (iso_local(value) or "")[:16].replace("T", " ")


def _notify(users: Iterable[User], order: RepairOrder, alert: SlaAlert, kind: str, message: Stored,
            urgency: str) -> int:
    sent = 0
    for user in {u.id: u for u in users}.values():
        url = f"/field/orders/{order.id}" if user.role == "technician" else f"/dispatch/orders/{order.id}"
        if outbox.enqueue(kind, user, cause=f"sla:{order.id}:{alert.kind}:{alert.level}:{alert.cycle}",
                          message=message, url=url, order_id=order.id, urgency=urgency,
                          topic=f"order-{order.id}") is not None:
            sent += 1
    return sent


def _store_alert(order: RepairOrder, cycle: int, kind: str, level: int, due_at: datetime,
                 at: datetime, new_level: int | None = None) -> SlaAlert | None:
    """Insert the alert's unique row (and move the order's level) in a savepoint; None if done already
    (another process got there first) or the order changed under us (the next tick looks again)."""
    alert = SlaAlert(order_id=order.id, kind=kind, level=level, cycle=cycle, station_id=order.station_id,
                     due_at=due_at, created_at=at)
    try:
        with db.session.begin_nested():
            db.session.add(alert)
            if new_level is not None:
                order.escalation_level = new_level
                order.updated_at = at
            db.session.flush()
    except (sa.exc.IntegrityError, StaleDataError):
        log.info("alert %s/%s of order %s already stored or order changed; skipped", kind, level, order.id)
        return None
    return alert


# --------------------------------------------------------------------------- the jobs' work

def send_deadline_warnings(at: datetime | None = None) -> dict[str, int]:
    """Warn the technician and the dispatchers of every running order now inside its warning lead."""
    run = _Run(at or now())
    warned = notified = 0
    for chunk in due_pages(due_warnings_query(run.at), RepairOrder.warn_at):
        for order, cycle in _load(chunk):
            if not order.is_running or order.escalation_level \
                    or order.sla_state(run.at) != "due_soon":
                continue  # changed since the id query
            alert = _store_alert(order, cycle, "warning", 0, order.warn_at, run.at)
            if alert is None:
                continue
            deadline = _stamp(order.deadline_at)
            add_event(order, "deadline_warning", None, stored("sla.deadline_at", time=deadline),
                      at=run.at, deadline_at=order.deadline_at.isoformat(), cycle=cycle)
            recipients = ([order.technician] if order.technician is not None else []) + run.dispatchers()
            alert.recipients = _notify(recipients, order, alert, "deadline_warning",
                                       stored("alert.due_soon", number=order.number, time=deadline,
                                              area=order.station_id), "high")
            db.session.flush()
            warned += 1
            notified += alert.recipients
            _after_first_alert(run)
        db.session.commit()
    return {"warned": warned, "notifications": notified}


def escalate_overdue_orders(at: datetime | None = None) -> dict[str, int]:
    """Escalate every breached running order to each level that has fallen due, once per level."""
    run = _Run(at or now())
    steps = [p for p in db.session.scalars(sa.select(SlaPolicy.escalation_step_hours))]
    min_step = timedelta(hours=min(steps + [4.0]))
    counts = {"level1": 0, "level2": 0, "notifications": 0}
    pages = (chunk for level in LEVELS
             for chunk in due_pages(due_escalations_query(run.at, level, min_step), RepairOrder.deadline_at))
    for chunk in pages:
        for order, cycle in _load(chunk):
            policy = run.policy(order)
            for level in due_levels(order, policy, run.at):
                due_at = ladder(order, policy)[f"level{level}"]
                alert = _store_alert(order, cycle, "escalation", level, due_at, run.at, new_level=level)
                if alert is None:
                    break
                add_event(order, "escalated", None, stored("sla.escalated", level=level),
                          at=run.at, level=level, due_at=due_at.isoformat(), cycle=cycle)
                recipients = run.supervisors(order.station_id) if level == 1 else []
                recipients = recipients or run.centre_managers()
                alert.recipients = _notify(
                    recipients, order, alert, "escalation",
                    stored("alert.overdue", level=level, number=order.number, time=_stamp(order.deadline_at),
                           area=order.station_id), "high")
                db.session.flush()
                counts[f"level{level}"] += 1
                counts["notifications"] += alert.recipients
                _after_first_alert(run)
        db.session.commit()
    return counts


def count_due(at: datetime, min_step: timedelta = timedelta(hours=4)) -> int:
    """The jobs' three due queries as indexed COUNTs (the benchmark's baseline)."""
    total = 0
    for stmt in (due_warnings_query(at), due_escalations_query(at, 1, min_step),
                 due_escalations_query(at, 2, min_step)):
        total += db.session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    return total


# --------------------------------------------------------------------------- acknowledgement & board

ACK_ROLES = ("supervisor", "admin")  # who may acknowledge at all (the acknowledge routes' @allow)
MAX_SELECTION = 500  # escalations acknowledged in one request; more is no human's selection
_ID_SEPARATORS = re.compile(r"[\s,]+")


def may_acknowledge(alert: SlaAlert, actor: User) -> bool:
    """An escalation is addressed by its level: level 1 to its station (the station's supervisors,
    within their scope), level 2 to the centre managers and admins, who see every station."""
    if actor.role not in ACK_ROLES or not in_scope(actor, alert.station_id):
        return False
    return alert.level == 1 or sees_all_stations(actor)


def _acknowledge(alert: SlaAlert, actor: User, note: str, at: datetime) -> bool:
    """Mark one escalation acknowledged, with its timeline note and audit row; False if it was already."""
    updated = db.session.execute(
        sa.update(SlaAlert).where(SlaAlert.id == alert.id, SlaAlert.acknowledged_at.is_(None))
        .values(acknowledged_at=at, acknowledged_by_id=actor.id, ack_note=note)).rowcount
    if updated != 1:
        return False
    db.session.refresh(alert)
    add_event(alert.order, "note", actor, stored("sla.acknowledged", level=alert.level),
              at=at, acknowledged=alert.level)
    audit.record("sla.acknowledge", "sla_alert", alert.id, actor=actor, order=alert.order_id, level=alert.level)
    return True


def _clean_note(note: Any) -> str:
    return note.strip()[:500] if isinstance(note, str) else ""


def acknowledge(alert_id: Any, actor: User, note: Any = "") -> SlaAlert:
    """Record who acknowledged an escalation and when (audited). 404 when it is not one the actor
    can see, 403 when it is addressed to others (level 2 for a station supervisor), 409 if done."""
    alert = db.session.get(SlaAlert, alert_id) if is_id(alert_id) else None
    if alert is None or alert.kind != "escalation" or not in_scope(actor, alert.station_id):
        raise NotFound(str(_l("No such escalation.")))
    if not may_acknowledge(alert, actor):
        raise Forbidden(str(_l("This escalation is not addressed to you.")))
    if not _acknowledge(alert, actor, _clean_note(note), now()):
        raise Conflict(str(_l("This escalation was acknowledged already.")))
    db.session.flush()
    return alert


@dataclass
class AckResult:
    """What a bulk acknowledgement did: the escalations acknowledged, those refused (no such id,
    another station's, or addressed to others: one count, so ids cannot be probed), and those
    someone had acknowledged already."""

    acknowledged: list[SlaAlert] = field(default_factory=list)
    refused: int = 0
    already: int = 0


def selected_ids(values: Iterable[Any]) -> list[str]:
    """The raw ids of a selection: each form value may hold several (a row's), by space or comma."""
    out: list[str] = []
    for value in values:
        if isinstance(value, str):
            out.extend(part for part in _ID_SEPARATORS.split(value) if part)
            if len(out) > MAX_SELECTION:
                break
    return out


def acknowledge_many(raw_ids: Iterable[Any], actor: User, note: Any = "") -> AckResult:
    """Acknowledge each selected escalation the actor may (may_acknowledge) and leave the others.

    Ids that are no row id, do not exist, are not escalations or lie outside the actor's station
    scope are refused alike; none of them changes anything. More than MAX_SELECTION ids, or none,
    is refused as a whole (Invalid)."""
    raw = list(raw_ids)
    if not raw:
        raise Invalid(str(_l("Select at least one escalation to acknowledge.")), {"alerts": "required"})
    if len(raw) > MAX_SELECTION:
        raise Invalid(str(_l("At most %(count)d escalations can be acknowledged at once.", count=MAX_SELECTION)),
                      {"alerts": "too_many"})
    valid = ids_from(raw)
    ids = list(dict.fromkeys(valid))  # a repeated id counts once
    result = AckResult(refused=len(raw) - len(valid))  # not a row id at all ("abc", "-1", "9" * 40)
    alerts = list(db.session.scalars(
        sa.select(SlaAlert).where(SlaAlert.id.in_(ids), SlaAlert.kind == "escalation",
                                  scope_clause(actor, SlaAlert.station_id))
        .order_by(SlaAlert.order_id, SlaAlert.level)).unique()) if ids else []
    result.refused += len(ids) - len(alerts)
    note, at = _clean_note(note), now()
    for alert in alerts:
        if not may_acknowledge(alert, actor):
            result.refused += 1
        elif _acknowledge(alert, actor, note, at):
            result.acknowledged.append(alert)
        else:
            result.already += 1
    db.session.flush()
    return result


@dataclass
class EscalationGroup:
    """One order's escalations on the board: its ladder steps of the current cycle, by level."""

    order: RepairOrder
    steps: list[SlaAlert]
    pending: list[SlaAlert]
    ackable: list[SlaAlert]

    @property
    def level(self) -> int:
        return max(a.level for a in self.steps)

    @property
    def oldest_pending_at(self) -> datetime:
        return min(a.created_at for a in self.pending)

    @property
    def ackable_ids(self) -> str:
        """The ids one row's checkbox or button acknowledges (the form's value)."""
        return " ".join(str(a.id) for a in self.ackable)


def escalation_groups(viewer: User, station_id: int | None, at: datetime | None = None,
                      limit: int = 200) -> list[EscalationGroup]:
    """Open orders with unacknowledged escalations the viewer can see, one group per order, the
    most urgent first: by their deadline as it stands (RepairOrder.seconds_left, the order-state
    rule: a paused order's deadline moves on while it waits). station None means every station."""
    at = at or now()
    visible = [SlaAlert.kind == "escalation", scope_clause(viewer, SlaAlert.station_id)]
    if station_id is not None:
        visible.append(SlaAlert.station_id == station_id)
    waiting = sa.exists().where(SlaAlert.order_id == RepairOrder.id, SlaAlert.acknowledged_at.is_(None), *visible)
    orders = list(db.session.scalars(
        sa.select(RepairOrder).where(RepairOrder.is_open, waiting)
        .order_by(RepairOrder.seconds_left(at), RepairOrder.id).limit(limit)).unique())
    if not orders:
        return []
    by_order: dict[int, list[SlaAlert]] = {}
    for alert in db.session.scalars(sa.select(SlaAlert).where(
            SlaAlert.order_id.in_([o.id for o in orders]), *visible)
            .order_by(SlaAlert.level, SlaAlert.id)).unique():
        by_order.setdefault(alert.order_id, []).append(alert)
    groups = []
    for order in orders:
        alerts = by_order.get(order.id, [])
        pending = [a for a in alerts if not a.is_acknowledged]
        if not pending:
            continue  # acknowledged between the two queries
        cycle = max(a.cycle for a in pending)
        steps = [a for a in alerts if a.cycle == cycle]
        pending = [a for a in steps if not a.is_acknowledged]
        groups.append(EscalationGroup(order=order, steps=steps, pending=pending,
                                      ackable=[a for a in pending if may_acknowledge(a, viewer)]))
    return groups


def orders_by_deadline(station_id: int | None, at: datetime | None = None, limit: int = 200) -> list[RepairOrder]:
    """Open orders, the most urgent first: by the time left on their clocks, which is their deadline as
    it stands (RepairOrder.effective_deadline, the one shown: `at` plus the time left; a paused order's
    deadline moves on while it waits, the time left on its clock does not)."""
    stmt = (sa.select(RepairOrder).where(RepairOrder.is_open)
            .order_by(RepairOrder.seconds_left(at or now()), RepairOrder.id).limit(limit))
    if station_id is not None:
        stmt = stmt.where(RepairOrder.station_id == station_id)
    return list(db.session.scalars(stmt).unique())
