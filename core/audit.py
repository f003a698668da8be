"""The audit log: who saw or changed what, when. Append-only."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

import sqlalchemy as sa
from flask import has_request_context, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, now
from core.extensions import db
from core.parse import MAX_ID


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    actor_name: Mapped[str | None] = mapped_column(sa.String(80))
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    object_type: Mapped[str | None] = mapped_column(sa.String(40))
    object_id: Mapped[str | None] = mapped_column(sa.String(80))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    __table_args__ = (sa.Index("ix_audit_events_object", "object_type", "object_id"),)


def record(action: str, object_type: str | None = None, object_id: Any = None, *,
           actor: Any = None, **details: Any) -> AuditEvent:
    """Add an audit row to the current transaction. Never pass a revealed value itself."""
    if actor is None and has_request_context() and current_user and current_user.is_authenticated:
        actor = current_user
    event = AuditEvent(
        at=now(),
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "username", None),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        ip=request.remote_addr if has_request_context() else None,
        details=details,
    )
    db.session.add(event)
    return event


def update_recorded(obj: Any, clean: dict[str, Any], fields: tuple[str, ...] | list[str],
                    snapshot: Callable[[Any], dict[str, Any]], action: str, object_type: str, *,
                    actor: Any, **details: Any) -> list[str]:
    """Set `fields` of `obj` from `clean` and audit what changed as before → after (only the changed
    fields); nothing is recorded when nothing changed. Returns the changed fields' names."""
    before = snapshot(obj)
    for name in fields:
        setattr(obj, name, clean[name])
    after = snapshot(obj)
    changed = [name for name in fields if before[name] != after[name]]
    if changed:
        record(action, object_type, obj.id, actor=actor, **details,
               before={n: before[n] for n in changed}, after={n: after[n] for n in changed})
    return changed


def search(action: str | None = None, actor: str | None = None, object_type: str | None = None,
           object_id: str | list[str] | None = None, since: datetime | None = None, until: datetime | None = None):
    """A select of audit rows, newest first, for the admin page (`object_id` may list several ids)."""
    q = sa.select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if action:
        q = q.where(AuditEvent.action.startswith(action, autoescape=True))  # % and _ are literal
    if actor:
        q = q.where(AuditEvent.actor_name == actor)
    if object_type:
        q = q.where(AuditEvent.object_type == object_type)
    if isinstance(object_id, list):
        q = q.where(AuditEvent.object_id.in_(object_id))
    elif object_id:
        q = q.where(AuditEvent.object_id == object_id)
    if since:
        q = q.where(AuditEvent.at >= since)
    if until:
        q = q.where(AuditEvent.at < until)
    return q


# --------------------------------------------------------------------------- reading the log
# The admin page shows names, not ids: each object type says how to read its rows' names (by table
# name, so that core imports no domain package) and which page shows one. One query per type per page.

ACTION_LABELS = {
    "login": _l("Logged in"), "login.failed": _l("Login failed"), "login.throttled": _l("Login throttled"),
    "token.issue": _l("API token issued"), "token.revoke": _l("API token revoked"),
    "user.create": _l("User created"), "user.update": _l("User changed"), "user.password": _l("Password set"),
    "user.enable": _l("User enabled"), "user.disable": _l("User disabled"),
    "station.create": _l("Station created"), "station.update": _l("Station changed"),
    "customer.create": _l("Customer created"), "customer.update": _l("Customer changed"),
    "customer.export": _l("Customers exported"), "customer.import": _l("Customers imported"),
    "customer.reveal_phone": _l("Customer's phone shown"), "customer.reveal_address": _l("Customer's address shown"),
    "order.create": _l("Order created"), "order.locate": _l("Order located"), "order.assign": _l("Order assigned"),
    "order.import": _l("Orders imported"), "order.accept": _l("Order accepted"), "order.decline": _l("Order declined"),
    "order.depart": _l("Technician on the way"), "order.arrive": _l("Technician on site"),
    "order.wait_customer": _l("Order waiting for customer"), "order.wait_parts": _l("Order waiting for parts"),
    "order.resume": _l("Order resumed"), "order.resolve": _l("Order resolved"), "order.close": _l("Order closed"),
    "order.reopen": _l("Order reopened"), "order.cancel": _l("Order cancelled"), "order.restore": _l("Order restored"),
    "callback.attempt": _l("Callback tried"), "callback.answer": _l("Callback answered"),
    "callback.link": _l("Survey link issued"),
    "sla.policy.create": _l("SLA policy created"), "sla.policy.update": _l("SLA policy changed"),
    "sla.acknowledge": _l("Escalation acknowledged"),
    "incident.settings": _l("Incident thresholds changed"), "incident.open": _l("Incident opened"),
    "incident.resolve": _l("Incident resolved"),
    "category.create": _l("Category created"), "category.update": _l("Category changed"),
    "resolution_code.create": _l("Resolution code added"), "resolution_code.update": _l("Resolution code changed"),
    "inventory.item.save": _l("Stock item saved"), "inventory.reorder.set": _l("Reorder point set"),
    "push_subscribe": _l("Alerts turned on for a device"), "push_unsubscribe": _l("Alerts turned off for a device"),
}

FIELD_LABELS = {
    "name": _l("Name"), "name_zh": _l("Chinese name"), "kind": _l("Order kind"), "service_line": _l("Service line"),
    "skill": _l("Skill"), "weight": _l("Weight"), "service_minutes": _l("Time on site (minutes)"),
    "is_active": _l("Active"), "code": _l("Code"), "category": _l("Category"), "segment": _l("Segment"),
    "restore_hours": _l("Restore hours"), "warning_lead_hours": _l("Warning lead (hours)"),
    "escalation_step_hours": _l("Escalation delay (hours)"), "wait_parts_pauses": _l("Waiting for parts pauses"),
    "username": _l("Username"), "role": _l("Role"), "number": _l("Order number"), "channel": _l("Channel"),
    "status": _l("Status"), "technician": _l("Technician"), "fields": _l("Fields changed"), "rows": _l("Rows"),
    "imported": _l("Imported"), "reason": _l("Reason"), "origin": _l("Push service"), "level": _l("Level"),
    "order": _l("Order"), "orders": _l("Orders"), "resolved": _l("Resolved"), "sku": _l("SKU"),
}


@dataclass(frozen=True)
class ObjectKind:
    """How the log reads one object type: its table, the columns that name a row, the column an admin
    types to find one (a code, a number), and the page that shows it."""

    label: Any
    table: str = ""
    columns: tuple[str, ...] = ()
    lookup: str | None = None
    endpoint: str | None = None
    arg: str = ""
    namer: Callable[[Any], str] | None = None  # when the columns alone do not read well

    def name(self, row: Any) -> str:
        if self.namer is not None:
            return self.namer(row)
        parts = [str(getattr(row, c)) for c in self.columns if getattr(row, c, None) not in (None, "")]
        if not parts:
            return ""
        return f"{parts[0]} — {' · '.join(parts[1:])}" if len(parts) > 1 else parts[0]


ORDER_KIND_LABELS = {"fault": _l("Fault"), "installation": _l("Installation"), "relocation": _l("Relocation"),
                     "complaint_visit": _l("Complaint visit")}


def _person(row: Any) -> str:
    return f"{row.full_name} ({row.username})" if row.full_name else row.username


def _category(row: Any) -> str:
    from core.i18n import current_language
    name = row.name_zh if current_language().startswith("zh") and row.name_zh else row.name
    return f"{row.code} — {name}"


def _policy(row: Any) -> str:
    from flask_babel import gettext

    from core.customers import SEGMENT_LABELS  # core.customers records audits: imported when used
    kind = ORDER_KIND_LABELS.get(row.kind, row.kind)
    segment = SEGMENT_LABELS.get(row.segment, row.segment) if row.segment else gettext("every segment")
    return f"{kind} · {segment}"


OBJECT_KINDS: dict[str, ObjectKind] = {
    "user": ObjectKind(_l("User"), "users", ("username", "full_name"), "username", "admin.user_edit", "user_id",
                       _person),
    "station": ObjectKind(_l("Station"), "stations", ("code", "name"), "code", "admin.station_edit", "station_id"),
    "customer": ObjectKind(_l("Customer"), "customers", ("account_no", "name"), "account_no", "admin.customer_edit",
                           "customer_id"),
    "category": ObjectKind(_l("Category"), "categories", ("code", "name", "name_zh"), "code",
                           "dispatch.category_edit", "category_id", _category),
    "sla_policy": ObjectKind(_l("SLA policy"), "sla_policies", ("kind", "segment"), None,
                             "dispatch_board.sla_policy_edit", "policy_id", _policy),
    "repair_order": ObjectKind(_l("Order"), "repair_orders", ("number",), "number", "dispatch.order_page", "order_id"),
    "incident": ObjectKind(_l("Incident"), endpoint="dispatch_board.incident", arg="incident_id"),
    "resolution_code": ObjectKind(_l("Resolution code"), "field_resolution_codes", ("category_code", "code", "name"),
                                  None),
    "inventory_item": ObjectKind(_l("Stock item"), "inventory_items", ("sku", "name"), "sku"),
    "inventory_stock_level": ObjectKind(_l("Stock level")),
    "sla_alert": ObjectKind(_l("Escalation")),
    "incident_settings": ObjectKind(_l("Incident thresholds")),
    "push_subscription": ObjectKind(_l("Device")),
}


def action_label(action: str) -> str:
    """The action in words; a code nobody named shows as it is."""
    label = ACTION_LABELS.get(action)
    return str(label) if label is not None else action


def _table(kind: ObjectKind) -> sa.TableClause:
    return sa.table(kind.table, sa.column("id"), *(sa.column(c) for c in kind.columns))


def find_object_ids(object_type: str, text: str) -> list[str]:
    """The ids of the objects of a type an admin names by its code or number (exact, case as typed
    and upper-cased); [] when none."""
    kind = OBJECT_KINDS.get(object_type)
    if kind is None or not kind.lookup:
        return []
    table = sa.table(kind.table, sa.column("id"), sa.column(kind.lookup))
    wanted = {text, text.upper(), text.lower()}
    return [str(i) for i in db.session.scalars(sa.select(table.c.id).where(table.c[kind.lookup].in_(wanted)))]


@dataclass
class Entry:
    """One row of the readable log."""

    event: AuditEvent
    actor: str
    actor_url: str | None
    action: str
    object_kind: str
    object_name: str
    object_url: str | None
    changes: list[str]


def _url(endpoint: str | None, **values: Any) -> str | None:
    from flask import url_for
    from werkzeug.routing import BuildError
    if endpoint is None:
        return None
    try:
        return url_for(endpoint, **values)
    except BuildError:  # a page of a package this app does not run
        return None


def _value(value: Any) -> str:
    from flask_babel import gettext
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_value(v)}" for k, v in value.items())
    return str(value)


SERVICE_LINE_LABELS = {"cable_tv": _l("Cable TV"), "digital_tv": _l("Digital TV"), "broadband": _l("Broadband")}


# labels of codes that the domain packages own (an order's status, channel...): create_app lists them
VALUE_LABELS: dict[str, dict[str, Any]] = {}


def register_value_labels(labels: dict[str, dict[str, Any]]) -> None:
    VALUE_LABELS.update(labels)


def _coded(name: str, value: Any) -> str:
    """A code among the details in words where its words are known (a kind, a role, a status...)."""
    if isinstance(value, str):
        if name in VALUE_LABELS:
            return str(VALUE_LABELS[name].get(value, value))
        if name == "role":
            from core.auth import ROLE_LABELS
            return str(ROLE_LABELS.get(value, value))
        if name == "kind":
            return str(ORDER_KIND_LABELS.get(value, value))
        if name == "service_line":
            return str(SERVICE_LINE_LABELS.get(value, value))
        if name == "skill":
            from core.forms import SKILL_LABELS  # core.forms reads accounts, which record audits
            return str(SKILL_LABELS.get(value, value))
        if name == "segment":
            from core.customers import SEGMENT_LABELS
            return str(SEGMENT_LABELS.get(value, value))
    return _value(value)


def _field(name: str) -> str:
    label = FIELD_LABELS.get(name)
    return str(label) if label is not None else name


# details that hold another object's id: shown by that object's name
DETAIL_REFS = {"technician": "user", "order": "repair_order"}


def _is_ref(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and value.isascii() and value.isdigit())


def change_lines(details: dict[str, Any] | None, names: dict[tuple[str, str], str] | None = None) -> list[str]:
    """The details as "field: before → after" lines (a create: "field: value"); other facts as "field: value".
    `names` ((object type, id) → name) names the objects details refer to by id (DETAIL_REFS)."""
    if not isinstance(details, dict):
        return []
    if names:
        details = {k: (names.get((DETAIL_REFS[k], str(v)), v) if k in DETAIL_REFS and _is_ref(v) else v)
                   for k, v in details.items()}
    lines: list[str] = []
    before, after = details.get("before"), details.get("after")
    if isinstance(after, dict):
        old = before if isinstance(before, dict) else {}
        for name, new in after.items():
            if isinstance(before, dict):
                if old.get(name) != new:
                    lines.append(f"{_field(name)}: {_coded(name, old.get(name))} → {_coded(name, new)}")
            else:
                lines.append(f"{_field(name)}: {_coded(name, new)}")
    for name, value in details.items():
        if name in ("before", "after"):
            continue
        if name == "fields" and isinstance(value, list):
            value = [_field(str(v)) for v in value]
        lines.append(f"{_field(name)}: {_coded(name, value)}")
    return lines


def readable(events: list[AuditEvent]) -> list[Entry]:
    """The events with names for their actors and objects: one query for the actors and one per
    object type on the page."""
    actor_ids = {e.actor_id for e in events if e.actor_id}
    users = sa.table("users", sa.column("id"), sa.column("username"), sa.column("full_name"))
    actors = {r.id: r for r in db.session.execute(sa.select(users).where(users.c.id.in_(actor_ids)))} \
        if actor_ids else {}
    wanted: dict[str, set[int]] = {}
    for e in events:
        kind = OBJECT_KINDS.get(e.object_type or "")
        if kind and kind.table and _is_ref(e.object_id) and int(e.object_id or 0) <= MAX_ID:
            wanted.setdefault(e.object_type or "", set()).add(int(e.object_id or 0))
        for key, object_type in DETAIL_REFS.items():
            value = e.details.get(key) if isinstance(e.details, dict) else None
            if _is_ref(value) and int(value) <= MAX_ID:  # an id column holds no more
                wanted.setdefault(object_type, set()).add(int(value))
    names: dict[tuple[str, str], str] = {}
    for object_type, ids in wanted.items():
        kind = OBJECT_KINDS[object_type]
        table = _table(kind)
        for row in db.session.execute(sa.select(table).where(table.c.id.in_(ids))):
            names[(object_type, str(row.id))] = kind.name(row)
    out = []
    for e in events:
        row = actors.get(e.actor_id) if e.actor_id else None
        if row is not None:
            actor = _person(row)
        else:
            actor = e.actor_name or "—"
        kind = OBJECT_KINDS.get(e.object_type or "")
        object_kind = str(kind.label) if kind else (e.object_type or "")
        name = names.get((e.object_type or "", e.object_id or ""))
        known = name is not None or (kind is not None and not kind.table)
        object_name = name or (f"#{e.object_id}" if e.object_id else "")
        object_url = None
        if kind and known and kind.endpoint and e.object_id and e.object_id.isascii() and e.object_id.isdigit():
            object_url = _url(kind.endpoint, **{kind.arg: int(e.object_id)})
        out.append(Entry(event=e, actor=actor,
                         actor_url=_url("admin.user_edit", user_id=e.actor_id) if row is not None else None,
                         action=action_label(e.action), object_kind=object_kind, object_name=object_name,
                         object_url=object_url, changes=change_lines(e.details, names)))
    return out
