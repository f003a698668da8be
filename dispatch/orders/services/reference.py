"""Categories and SLA policies: the reference data every order is measured against."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from core.errors import NotFound
from core.extensions import db
from dispatch.orders.models import Category, SlaPolicy

# Difficulty weights (DESIGN.md): plain 1.0, business 1.2, billing 1.4, broadband/coverage 1.6,
# difficult/escalated 1.8.
CATEGORIES: tuple[tuple[str, str, str, str, str, str, float], ...] = (
    # code, name, name_zh, kind, service_line, skill, weight
    ("CATV-NO-SIGNAL", "No signal (cable TV)", "有线电视无信号", "fault", "cable_tv", "cable_tv", 1.0),
    ("CATV-SNOW", "Snowy or weak picture", "有线电视雪花/信号弱", "fault", "cable_tv", "cable_tv", 1.0),
    ("CATV-CABLE-CUT", "Cable cut or damaged", "线缆断裂或损坏", "fault", "cable_tv", "cable_tv", 1.8),
    ("DTV-MOSAIC", "Mosaic or frozen picture", "数字电视马赛克/画面卡顿", "fault", "digital_tv", "digital_tv", 1.0),
    ("DTV-STB-DEAD", "Set-top box dead", "机顶盒不开机", "fault", "digital_tv", "digital_tv", 1.2),
    ("DTV-SMARTCARD", "Smart card error", "智能卡报错", "fault", "digital_tv", "digital_tv", 1.0),
    ("DTV-NO-CHANNELS", "Channels missing", "频道缺失", "fault", "digital_tv", "digital_tv", 1.0),
    ("BB-MODEM-OFFLINE", "Modem offline", "宽带猫离线", "fault", "broadband", "broadband", 1.6),
    ("BB-SLOW", "Slow broadband", "宽带网速慢", "fault", "broadband", "broadband", 1.6),
    ("BB-DROPS", "Broadband keeps dropping", "宽带频繁掉线", "fault", "broadband", "broadband", 1.6),
    ("BB-FIBER-BREAK", "Fibre break", "光纤中断", "fault", "broadband", "fiber", 1.8),
    ("INST-DTV", "New digital TV installation", "数字电视新装", "installation", "digital_tv", "installation", 1.2),
    ("INST-BB", "New broadband installation", "宽带新装", "installation", "broadband", "installation", 1.2),
    ("RELOC-DTV", "Relocate digital TV", "数字电视移机", "relocation", "digital_tv", "installation", 1.2),
    ("RELOC-BB", "Relocate broadband", "宽带移机", "relocation", "broadband", "installation", 1.4),
    ("VISIT-COMPLAINT", "Complaint visit", "投诉上门回访", "complaint_visit", "digital_tv", "digital_tv", 1.4),
)

# (kind, segment, restore hours): faults 24 h for everyone; installations and relocations 72 h;
# complaint visits 48 h.
SLA_DEFAULTS: tuple[tuple[str, str | None, float], ...] = (
    ("fault", None, 24), ("installation", None, 72), ("relocation", None, 72), ("complaint_visit", None, 48),
)


def ensure_reference_data() -> None:
    """Add the standard categories and SLA policies that are missing; never overwrite edits."""
    have = set(db.session.scalars(sa.select(Category.code)))
    for code, name, name_zh, kind, line, skill, weight in CATEGORIES:
        if code not in have:
            db.session.add(Category(code=code, name=name, name_zh=name_zh, kind=kind, service_line=line,
                                    skill=skill, weight=weight))
    policies = {(p.kind, p.segment) for p in db.session.scalars(sa.select(SlaPolicy))}
    for kind, segment, hours in SLA_DEFAULTS:
        if (kind, segment) not in policies:
            db.session.add(SlaPolicy(kind=kind, segment=segment, restore_hours=hours))
    db.session.flush()


def categories(active_only: bool = True) -> list[Category]:
    stmt = sa.select(Category).order_by(Category.kind, Category.code)
    if active_only:
        stmt = stmt.where(Category.is_active.is_(True))
    return list(db.session.scalars(stmt))


def category_by_code(code: Any) -> Category:
    if not isinstance(code, str) or not code.strip():
        raise NotFound(str(_l("No such category.")), {"category": "unknown"})
    cat = db.session.scalar(sa.select(Category).where(Category.code == code.strip().upper()))
    if cat is None or not cat.is_active:
        raise NotFound(str(_l("No such category.")), {"category": "unknown"})
    return cat


def policy_for(kind: str, segment: str | None) -> SlaPolicy:
    """The segment's own policy for the kind, else the kind's general one, else the built-in default."""
    rows = list(db.session.scalars(sa.select(SlaPolicy).where(
        SlaPolicy.kind == kind, sa.or_(SlaPolicy.segment == segment, SlaPolicy.segment.is_(None)))))
    rows.sort(key=lambda p: p.segment is None)
    if rows:
        return rows[0]
    hours = next(h for k, _s, h in SLA_DEFAULTS if k == kind)
    return SlaPolicy(kind=kind, segment=None, restore_hours=hours, warning_lead_hours=4.0,
                     escalation_step_hours=4.0, wait_parts_pauses=False)


def category_json(cat: Category, locale: str | None = None) -> dict[str, Any]:
    return {"code": cat.code, "name": cat.label(locale), "name_en": cat.name, "name_zh": cat.name_zh,
            "kind": cat.kind, "service_line": cat.service_line, "skill": cat.skill, "weight": cat.weight}
