"""SLA policies, kept by admins: restore hours by order kind and customer segment, the warning lead
and the escalation ladder.

The ladder has two levels (services/sla.py): level 1 at the deadline itself (the breach), level 2
`escalation_step_hours` after it. Restore hours and the warning lead are read when an order is
reported (its deadline and warn time are stored with it), so a change applies to orders reported
from then on; the escalation delay is read by every escalation run, so it applies at once.

Every change is checked as a whole (all errors at once, by field) and audited with the values
before and after.
"""
from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core import audit
from core.auth import User
from core.customers import SEGMENTS
from core.errors import Forbidden, Invalid, NotFound, recovered
from core.extensions import db
from core.parse import is_id, parse_float
from dispatch.orders.models import KINDS, SlaPolicy

MAX_HOURS = 720.0  # 30 days: no restore promise, lead or delay is longer
HOURS_FIELDS = ("restore_hours", "warning_lead_hours", "escalation_step_hours")
EDITABLE = (*HOURS_FIELDS, "wait_parts_pauses")


def _require_admin(actor: User) -> None:
    if actor.role != "admin":
        raise Forbidden(str(_l("Only admins may change SLA policies.")))


def policies() -> list[SlaPolicy]:
    """Every policy: by kind (in the order kinds are listed), the general one before the segments'."""
    rows = list(db.session.scalars(sa.select(SlaPolicy)))
    rows.sort(key=lambda p: (KINDS.index(p.kind) if p.kind in KINDS else len(KINDS), p.segment is not None,
                             p.segment or ""))
    return rows


def get_policy(policy_id: Any) -> SlaPolicy:
    row = db.session.get(SlaPolicy, policy_id) if is_id(policy_id) else None
    if row is None:
        raise NotFound(str(_l("No such SLA policy.")))
    return row


def form_values(policy: SlaPolicy | None) -> dict[str, Any]:
    """What the edit form shows for a policy (a new one: the general defaults)."""
    if policy is None:
        return {"kind": "fault", "segment": "", "restore_hours": "24", "warning_lead_hours": "4",
                "escalation_step_hours": "4", "wait_parts_pauses": False}
    values: dict[str, Any] = {"kind": policy.kind, "segment": policy.segment or "",
                              "wait_parts_pauses": bool(policy.wait_parts_pauses)}
    for name in HOURS_FIELDS:
        values[name] = _hours_text(getattr(policy, name))
    return values


def _hours_text(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _hours(data: dict[str, Any], name: str, errors: dict[str, str], too_small: Any = None) -> float | None:
    """A number of hours, more than 0 and at most MAX_HOURS; None (and an error) otherwise."""
    raw = data.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors[name] = str(_l("Required: a number of hours."))
        return None
    try:
        value = parse_float(raw, name, lo=-1e9, hi=1e9)
    except Invalid as err:
        recovered(err)  # folded into the one refusal of the whole form
        value = None
    if value is None or not math.isfinite(value):
        errors[name] = str(_l("A number of hours, such as 24 or 1.5."))
        return None
    if value <= 0:
        errors[name] = str(too_small or _l("More than 0 hours."))
        return None
    if value > MAX_HOURS:
        errors[name] = str(_l("At most %(hours)d hours (30 days).", hours=int(MAX_HOURS)))
        return None
    return value


def _check(data: dict[str, Any], policy: SlaPolicy | None) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    if policy is None:  # kind and segment name a new policy; an existing one keeps its own
        kind = data.get("kind")
        if kind not in KINDS:
            errors["kind"] = str(_l("Choose an order kind."))
        segment = data.get("segment") or None
        if segment is not None and segment not in SEGMENTS:
            errors["segment"] = str(_l("Choose a customer segment, or none for every segment."))
        if "kind" not in errors and "segment" not in errors:
            taken = db.session.scalar(sa.select(SlaPolicy.id).where(
                SlaPolicy.kind == kind,
                SlaPolicy.segment.is_(None) if segment is None else SlaPolicy.segment == segment))
            if taken is not None:
                errors["segment"] = str(_l("This kind and segment have a policy already; edit that one."))
        clean["kind"], clean["segment"] = kind, segment
    clean["restore_hours"] = _hours(data, "restore_hours", errors)
    clean["warning_lead_hours"] = _hours(data, "warning_lead_hours", errors)
    # the ladder in order: level 2 strictly after level 1, which is at the deadline (0 h after it)
    clean["escalation_step_hours"] = _hours(data, "escalation_step_hours", errors,
                                            too_small=_l("Level 2 must come after level 1, which is at the "
                                                         "deadline: more than 0 hours after it."))
    restore, lead = clean["restore_hours"], clean["warning_lead_hours"]
    if restore is not None and lead is not None and lead >= restore:
        errors["warning_lead_hours"] = str(_l("Less than the restore hours (%(hours)s), or the warning would "
                                              "come before the order exists.", hours=_hours_text(restore)))
    clean["wait_parts_pauses"] = data.get("wait_parts_pauses") in (True, "1", "on", "true", "yes")
    return clean, errors


def _snapshot(policy: SlaPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in EDITABLE}


def save_policy(data: dict[str, Any], actor: User, policy_id: Any = None) -> SlaPolicy:
    """Create a policy (policy_id None) or change one; refuses the whole form with every field's error
    (Invalid with `fields`) and writes nothing then. Audited with the values before and after."""
    _require_admin(actor)
    policy = get_policy(policy_id) if policy_id is not None else None
    clean, errors = _check(data, policy)
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    if policy is None:
        policy = SlaPolicy(kind=clean["kind"], segment=clean["segment"],
                           **{name: clean[name] for name in EDITABLE})
        db.session.add(policy)
        db.session.flush()
        audit.record("sla.policy.create", "sla_policy", policy.id, actor=actor, kind=policy.kind,
                     segment=policy.segment, after=_snapshot(policy))
        return policy
    before = _snapshot(policy)
    for name in EDITABLE:
        setattr(policy, name, clean[name])
    after = _snapshot(policy)
    if after != before:
        audit.record("sla.policy.update", "sla_policy", policy.id, actor=actor, kind=policy.kind,
                     segment=policy.segment, before=before, after=after)
    db.session.flush()
    return policy
