"""Job categories, kept by admins: names in both languages, order kind, service line, the skill a job
needs, its weight and how long it takes on site.

A category is never deleted (orders name it): an admin deactivates it, and new orders can no longer
choose it. The code is fixed once created (resolution codes, imports and reports name categories by
code). Every change is checked as a whole (all errors at once, by field) and audited with the
values before and after.

Skills come from a managed list: the labelled skills (core.forms.SKILL_LABELS) and those some
category requires already. A new skill may be named here, as a short lower-case code; it becomes
one technicians can be given on their account page once an active category requires it.
"""
from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core import audit
from core.auth import User
from core.errors import Forbidden, Invalid, NotFound, recovered
from core.extensions import db
from core.forms import SKILL_LABELS
from core.parse import is_id, parse_float, parse_int
from dispatch.orders.models import KINDS, SERVICE_LINES, Category

CODE_RE = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")
SKILL_RE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
NEW_SKILL = "__new__"  # the picker's "a new skill" choice; the skill is typed in `new_skill`
MIN_WEIGHT, MAX_WEIGHT = 0.1, 5.0  # the table's check: more than 0, at most 5
MIN_MINUTES, MAX_MINUTES = 5, 1440  # five minutes to a whole day on site
EDITABLE = ("name", "name_zh", "kind", "service_line", "skill", "weight", "service_minutes", "is_active")
SERVICE_LINE_LABELS = {"cable_tv": _l("Cable TV"), "digital_tv": _l("Digital TV"), "broadband": _l("Broadband")}


def _require_admin(actor: User) -> None:
    if actor.role != "admin":
        raise Forbidden(str(_l("Only admins may change job categories.")))


def all_categories() -> list[Category]:
    """Every category, active first, then by kind (in the order kinds are listed) and code."""
    rows = list(db.session.scalars(sa.select(Category)))
    rows.sort(key=lambda c: (not c.is_active, KINDS.index(c.kind) if c.kind in KINDS else len(KINDS), c.code))
    return rows


def get_category(category_id: Any) -> Category:
    """A category by id, active or not (the admin pages and field's resolution codes use it)."""
    row = db.session.get(Category, category_id) if is_id(category_id) else None
    if row is None:
        raise NotFound(str(_l("No such category.")))
    return row


def known_skills() -> list[str]:
    """The managed list: the labelled skills and every skill a category requires, sorted."""
    held = set(db.session.scalars(sa.select(Category.skill).distinct()))
    return sorted(held | set(SKILL_LABELS))


def skill_label(skill: str) -> str:
    return str(SKILL_LABELS.get(skill, skill))


def form_values(category: Category | None) -> dict[str, Any]:
    """What the edit form shows for a category (a new one: sensible defaults)."""
    if category is None:
        return {"code": "", "name": "", "name_zh": "", "kind": "fault", "service_line": "digital_tv",
                "skill": "", "new_skill": "", "weight": "1", "service_minutes": "60", "is_active": True}
    values: dict[str, Any] = {name: getattr(category, name) for name in EDITABLE}
    values.update(code=category.code, new_skill="", weight=f"{category.weight:g}",
                  service_minutes=str(category.service_minutes))
    return values


def _text(data: dict[str, Any], name: str, errors: dict[str, str], limit: int = 120) -> str:
    raw = data.get(name)
    value = raw.strip() if isinstance(raw, str) else ""
    if not value:
        errors[name] = str(_l("Required."))
    elif len(value) > limit:
        errors[name] = str(_l("At most %(n)d characters.", n=limit))
    return value


def _skill(data: dict[str, Any], errors: dict[str, str]) -> str | None:
    choice = data.get("skill")
    if choice == NEW_SKILL:
        raw = data.get("new_skill")
        skill = raw.strip().lower() if isinstance(raw, str) else ""
        if not skill:
            errors["new_skill"] = str(_l("Type the new skill, or choose one from the list."))
        elif len(skill) > 40 or not SKILL_RE.fullmatch(skill):
            errors["new_skill"] = str(_l("A skill is a short code of lower-case letters, digits and "
                                         "underscores, such as fiber_splicing (at most 40)."))
        else:
            return skill
        return None
    if not isinstance(choice, str) or choice not in known_skills():
        errors["skill"] = str(_l("Choose a skill from the list (or “A new skill…”)."))
        return None
    return choice


def _check(data: dict[str, Any], category: Category | None) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    if category is None:  # the code names a category for good
        raw = data.get("code")
        code = raw.strip().upper() if isinstance(raw, str) else ""
        if not code:
            errors["code"] = str(_l("Required."))
        elif len(code) > 40 or not CODE_RE.fullmatch(code):
            errors["code"] = str(_l("Capital letters, digits and dashes, such as BB-SLOW (at most 40)."))
        elif db.session.scalar(sa.select(Category.id).where(Category.code == code)) is not None:
            errors["code"] = str(_l("A category with code %(code)s exists already.", code=code))
        clean["code"] = code
    clean["name"] = _text(data, "name", errors)
    clean["name_zh"] = _text(data, "name_zh", errors)
    clean["kind"] = data.get("kind")
    if clean["kind"] not in KINDS:
        errors["kind"] = str(_l("Choose an order kind."))
    clean["service_line"] = data.get("service_line")
    if clean["service_line"] not in SERVICE_LINES:
        errors["service_line"] = str(_l("Choose a service line."))
    clean["skill"] = _skill(data, errors)
    clean["weight"] = _number(data, "weight", errors, lo=MIN_WEIGHT, hi=MAX_WEIGHT, whole=False,
                              message=_l("A number from %(lo)s to %(hi)s, such as 1.2.", lo=MIN_WEIGHT, hi=MAX_WEIGHT))
    clean["service_minutes"] = _number(data, "service_minutes", errors, lo=MIN_MINUTES, hi=MAX_MINUTES, whole=True,
                                       message=_l("Whole minutes from %(lo)d to %(hi)d.", lo=MIN_MINUTES,
                                                  hi=MAX_MINUTES))
    clean["is_active"] = data.get("is_active") in (True, "1", "on", "true", "yes")
    return clean, errors


def _number(data: dict[str, Any], name: str, errors: dict[str, str], *, lo: float, hi: float, whole: bool,
            message: Any) -> Any:
    raw = data.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors[name] = str(_l("Required."))
        return None
    try:
        value = (parse_int(raw, name, lo=int(lo), hi=int(hi)) if whole else parse_float(raw, name, lo=lo, hi=hi))
    except Invalid as err:
        recovered(err)  # folded into the one refusal of the whole form
        value = None
    if value is None:
        errors[name] = str(message)
    return value


def _snapshot(category: Category) -> dict[str, Any]:
    return {name: getattr(category, name) for name in EDITABLE}


def save_category(data: dict[str, Any], actor: User, category_id: Any = None) -> Category:
    """Create a category (category_id None) or change one; refuses the whole form with every field's
    error (Invalid with `fields`) and writes nothing then. Audited with the changed values before and
    after (a create: every value after)."""
    _require_admin(actor)
    category = get_category(category_id) if category_id is not None else None
    clean, errors = _check(data, category)
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    if category is None:
        category = Category(code=clean["code"], **{name: clean[name] for name in EDITABLE})
        db.session.add(category)
        db.session.flush()
        audit.record("category.create", "category", category.id, actor=actor, code=category.code,
                     after=_snapshot(category))
        return category
    audit.update_recorded(category, clean, EDITABLE, _snapshot, "category.update", "category", actor=actor,
                          code=category.code)
    db.session.flush()
    return category
