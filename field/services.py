"""field: push subscriptions, the notification inbox and the resolution codes (services never commit)."""
from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from flask_babel import gettext as _

from core import audit, outbox
from core.auth import User
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db
from core.parse import is_id
from field.models import PushSubscription, ResolutionCode
from field.push import origin_allowed, origin_of

B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
MAX_DEVICES_PER_USER = 10  # a phone re-subscribing after a reinstall must not pile up rows


def _b64url(value: Any, field: str, length: int) -> str:
    """Canonical (unpadded) base64url of exactly `length` bytes, or Invalid."""
    if not isinstance(value, str) or not B64URL.match(value) or len(value) > 200:
        raise Invalid(_("The subscription key %(name)s is not base64url.", name=field), {field: "not_base64url"})
    try:
        raw = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise Invalid(_("The subscription key %(name)s is not base64url.", name=field),
                      {field: "not_base64url"}) from None
    if len(raw) != length:
        raise Invalid(_("The subscription key %(name)s must be %(n)s bytes.", name=field, n=length),
                      {field: "wrong_length"})
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def check_endpoint(endpoint: Any) -> str:
    """The push service origin of an endpoint the server may post to, or Invalid (never post elsewhere)."""
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > 2048:
        raise Invalid(_("The subscription needs an endpoint URL."), {"endpoint": "required"})
    origin = origin_of(endpoint)
    if origin is None:
        raise Invalid(_("The endpoint is not a valid URL."), {"endpoint": "not_url"})
    if not origin_allowed(origin):
        raise Invalid(_("This push service is not allowed."), {"endpoint": "origin_not_allowed"})
    return origin


def subscribe(user: User, data: dict[str, Any], user_agent: str = "") -> PushSubscription:
    """Store a browser's PushSubscription.toJSON() for a user (again: updates it).

    The endpoint's origin must be an allowed push service; p256dh must be an uncompressed
    P-256 point (65 bytes, 0x04 first, on the curve) and auth a 16-byte secret. An endpoint
    stored for someone else never moves to this user (whoever learnt it could take over that
    person's alerts): Conflict. A shared phone changes hands at logout, which forgets the
    device of the user logging out (`forget_device`).
    """
    origin = check_endpoint(data.get("endpoint"))
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise Invalid(_("The subscription needs keys.p256dh and keys.auth."), {"keys": "required"})
    p256dh = _b64url(keys.get("p256dh"), "p256dh", 65)
    auth = _b64url(keys.get("auth"), "auth", 16)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), base64.urlsafe_b64decode(p256dh + "=="))
    except ValueError:
        raise Invalid(_("The subscription key p256dh is not a P-256 public key."), {"p256dh": "not_a_point"}) from None
    endpoint = data["endpoint"].strip()
    sub = db.session.scalar(sa.select(PushSubscription).where(PushSubscription.endpoint == endpoint))
    if sub is not None and sub.user_id != user.id:
        raise Conflict(_("This device receives another user's alerts. Turn alerts off and on again."),
                       {"endpoint": "taken"}, code="endpoint_taken")
    if sub is not None and (sub.p256dh, sub.auth) == (p256dh, auth):
        return sub  # the page re-sends its subscription on every visit: nothing to change
    if sub is None:
        sub = PushSubscription(endpoint=endpoint, user_id=user.id)
        db.session.add(sub)
    sub.user_id, sub.origin, sub.p256dh, sub.auth, sub.user_agent = user.id, origin, p256dh, auth, user_agent[:300]
    db.session.flush()
    stale = db.session.scalars(sa.select(PushSubscription.id).where(PushSubscription.user_id == user.id)
                               .order_by(PushSubscription.created_at.desc(), PushSubscription.id.desc())
                               .offset(MAX_DEVICES_PER_USER)).all()
    if stale:
        db.session.execute(sa.delete(PushSubscription).where(PushSubscription.id.in_(stale)))
    audit.record("push_subscribe", "push_subscription", sub.id, origin=origin)
    return sub


def unsubscribe(user: User, endpoint: Any) -> bool:
    """Forget one of the user's devices; False if it was not stored for them."""
    if not isinstance(endpoint, str) or not endpoint:
        raise Invalid(_("The subscription needs an endpoint URL."), {"endpoint": "required"})
    sub = db.session.scalar(sa.select(PushSubscription).where(PushSubscription.endpoint == endpoint.strip(),
                                                              PushSubscription.user_id == user.id))
    if sub is None:
        return False
    audit.record("push_unsubscribe", "push_subscription", sub.id, origin=sub.origin)
    db.session.delete(sub)
    db.session.flush()
    return True


def forget_device(user: User, subscription_id: Any) -> bool:
    """At logout: forget the device the user subscribed from in this session, so that the next
    person to log in on it may take it; False if it is not (or no longer) theirs."""
    if not isinstance(subscription_id, int):
        return False
    sub = db.session.scalar(sa.select(PushSubscription).where(PushSubscription.id == subscription_id,
                                                              PushSubscription.user_id == user.id))
    if sub is None:
        return False
    audit.record("push_unsubscribe", "push_subscription", sub.id, actor=user, origin=sub.origin, reason="logout")
    db.session.delete(sub)
    db.session.flush()
    return True


def devices(user_id: int) -> list[PushSubscription]:
    return list(db.session.scalars(sa.select(PushSubscription).where(PushSubscription.user_id == user_id)
                                   .order_by(PushSubscription.id)))


def mark_read(user: User, ids: list[int] | None = None) -> int:
    """Mark some (or all) of the user's alerts read; returns how many changed."""
    return outbox.mark_read(user.id, ids)


# --------------------------------------------------------------------------- resolution codes

CODE_NAMES: dict[str, tuple[str, str]] = {
    "CONNECTOR-REPLACED": ("F connector replaced", "更换F头"),
    "DROP-CABLE-REPLACED": ("Drop cable replaced", "更换入户线"),
    "SPLITTER-REPLACED": ("Splitter replaced", "更换分支分配器"),
    "AMPLIFIER-FIXED": ("Amplifier repaired or adjusted", "放大器维修或调整"),
    "CABLE-SPLICED": ("Damaged cable spliced or replaced", "损坏线缆接续或更换"),
    "CUSTOMER-WIRING": ("Customer's indoor wiring fixed", "修复用户室内线路"),
    "STB-REPLACED": ("Set-top box replaced", "更换机顶盒"),
    "STB-RESET": ("Set-top box reset or updated", "机顶盒重置或升级"),
    "SMARTCARD-REPLACED": ("Smart card replaced", "更换智能卡"),
    "SMARTCARD-PAIRED": ("Smart card re-paired or re-authorised", "智能卡重新配对或授权"),
    "CHANNELS-RESCANNED": ("Channels rescanned", "重新搜台"),
    "MODEM-REPLACED": ("Modem replaced", "更换光猫"),
    "MODEM-RESET": ("Modem reset or reconfigured", "光猫重置或重新配置"),
    "PATCH-CORD-REPLACED": ("Patch cord replaced", "更换跳线"),
    "FIBER-SPLICED": ("Fibre spliced", "光纤熔接"),
    "WIFI-FIXED": ("Wi-Fi set up again", "重新设置无线网络"),
    "INSTALLED": ("Installed and tested", "安装并测试完成"),
    "RELOCATED": ("Moved and tested", "移机并测试完成"),
    "EXPLAINED": ("Explained to the customer", "已向用户解释"),
    "FIXED-ON-VISIT": ("Fixed during the visit", "回访时已修复"),
    "NO-FAULT-FOUND": ("No fault found", "未发现故障"),
}
_CATV = ("CONNECTOR-REPLACED", "DROP-CABLE-REPLACED", "SPLITTER-REPLACED", "AMPLIFIER-FIXED", "CUSTOMER-WIRING")
_DTV = ("STB-REPLACED", "STB-RESET", "SMARTCARD-REPLACED", "SMARTCARD-PAIRED", "CHANNELS-RESCANNED",
        "CONNECTOR-REPLACED")
_BB = ("MODEM-REPLACED", "MODEM-RESET", "PATCH-CORD-REPLACED", "FIBER-SPLICED", "WIFI-FIXED", "CUSTOMER-WIRING")
# category (dispatch's standard ones) → its codes, in the order the technician sees them
CATEGORY_CODES: dict[str, tuple[str, ...]] = {
    "CATV-NO-SIGNAL": (*_CATV, "NO-FAULT-FOUND"),
    "CATV-SNOW": (*_CATV, "NO-FAULT-FOUND"),
    "CATV-CABLE-CUT": ("CABLE-SPLICED", "DROP-CABLE-REPLACED", "CONNECTOR-REPLACED"),
    "DTV-MOSAIC": (*_DTV, "NO-FAULT-FOUND"),
    "DTV-STB-DEAD": ("STB-REPLACED", "STB-RESET", "NO-FAULT-FOUND"),
    "DTV-SMARTCARD": ("SMARTCARD-REPLACED", "SMARTCARD-PAIRED", "STB-RESET", "NO-FAULT-FOUND"),
    "DTV-NO-CHANNELS": ("CHANNELS-RESCANNED", "SMARTCARD-PAIRED", "STB-RESET", "NO-FAULT-FOUND"),
    "BB-MODEM-OFFLINE": (*_BB, "NO-FAULT-FOUND"),
    "BB-SLOW": (*_BB, "NO-FAULT-FOUND"),
    "BB-DROPS": (*_BB, "NO-FAULT-FOUND"),
    "BB-FIBER-BREAK": ("FIBER-SPLICED", "PATCH-CORD-REPLACED"),
    "INST-DTV": ("INSTALLED",),
    "INST-BB": ("INSTALLED",),
    "RELOC-DTV": ("RELOCATED",),
    "RELOC-BB": ("RELOCATED",),
    "VISIT-COMPLAINT": ("EXPLAINED", "FIXED-ON-VISIT", "NO-FAULT-FOUND"),
}


def ensure_resolution_codes() -> int:
    """Add the standard resolution codes each category is missing (never changes an edited one); how many."""
    have = {(c, k) for c, k in db.session.execute(sa.select(ResolutionCode.category_code, ResolutionCode.code))}
    added = 0
    for category, codes in CATEGORY_CODES.items():
        for position, code in enumerate(codes):
            if (category, code) not in have:
                name, name_zh = CODE_NAMES[code]
                db.session.add(ResolutionCode(category_code=category, code=code, name=name, name_zh=name_zh,
                                              position=position))
                added += 1
    db.session.flush()
    return added


def resolution_codes(category_code: str) -> list[ResolutionCode]:
    """The codes a job of this category is resolved with, in order; none: the code is written freely.
    A retired code (is_active false) is not offered any more."""
    return list(db.session.scalars(sa.select(ResolutionCode).where(ResolutionCode.category_code == category_code,
                                                                   ResolutionCode.is_active.is_(True))
                                   .order_by(ResolutionCode.position, ResolutionCode.code)))


def check_resolution_code(category_code: str, category_name: str, code: Any) -> Any:
    """The resolution code as the category's list spells it, or Invalid when it is not in the list. A
    category without a list takes any code as it came (dispatch checks it is there and short)."""
    codes = {c.code for c in resolution_codes(category_code)}
    if not codes or not isinstance(code, str) or not code.strip():
        return code
    if code.strip().upper() not in codes:
        raise Invalid(_("“%(code)s” is not a resolution code of %(category)s jobs: pick one from the list.",
                        code=code.strip()[:40], category=category_name),
                      {"resolution_code": "not_in_list"}, code="unknown_resolution_code")
    return code.strip().upper()


# --------------------------------------------------------------------------- resolution codes, kept by admins

RESOLUTION_CODE_RE = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")
RESOLUTION_CODE_FIELDS = ("name", "name_zh", "is_active")


def all_resolution_codes(category_code: str) -> list[ResolutionCode]:
    """Every code of a category, the retired ones too (the admins' page), in the technicians' order."""
    return list(db.session.scalars(sa.select(ResolutionCode).where(ResolutionCode.category_code == category_code)
                                   .order_by(ResolutionCode.is_active.desc(), ResolutionCode.position,
                                             ResolutionCode.code)))


def get_resolution_code(category_code: str, code_id: Any) -> ResolutionCode:
    row = db.session.get(ResolutionCode, code_id) if is_id(code_id) else None
    if row is None or row.category_code != category_code:
        raise NotFound(_("No such resolution code."))
    return row


def _code_snapshot(row: ResolutionCode) -> dict[str, Any]:
    return {name: getattr(row, name) for name in RESOLUTION_CODE_FIELDS}


def save_resolution_code(category_code: str, data: dict[str, Any], actor: User,
                         code_id: Any = None) -> ResolutionCode:
    """Add a resolution code to a category (code_id None) or rename / retire / bring back one.

    Every field is checked at once (Invalid with `fields`, nothing written). The code itself is fixed
    once made: orders resolved with it keep naming it. A code is retired, never deleted. Audited with
    the changed values before and after.
    """
    if actor.role != "admin":
        raise Forbidden(_("Only admins may change resolution codes."))
    row = get_resolution_code(category_code, code_id) if code_id is not None else None
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    if row is None:
        raw = data.get("code")
        code = raw.strip().upper() if isinstance(raw, str) else ""
        if not code:
            errors["code"] = _("Required.")
        elif len(code) > 40 or not RESOLUTION_CODE_RE.fullmatch(code):
            errors["code"] = _("Capital letters, digits and dashes, such as STB-REPLACED (at most 40).")
        elif db.session.scalar(sa.select(ResolutionCode.id).where(ResolutionCode.category_code == category_code,
                                                                  ResolutionCode.code == code)) is not None:
            errors["code"] = _("This category has the code %(code)s already.", code=code)
        clean["code"] = code
    for name in ("name", "name_zh"):
        raw = data.get(name)
        value = raw.strip() if isinstance(raw, str) else ""
        if not value:
            errors[name] = _("Required.")
        elif len(value) > 120:
            errors[name] = _("At most %(n)d characters.", n=120)
        clean[name] = value
    clean["is_active"] = data.get("is_active") in (True, "1", "on", "true", "yes")
    if errors:
        raise Invalid(_("Please correct the marked fields."), errors)
    if row is None:
        last = db.session.scalar(sa.select(sa.func.max(ResolutionCode.position))
                                 .where(ResolutionCode.category_code == category_code))
        row = ResolutionCode(category_code=category_code, code=clean["code"], name=clean["name"],
                             name_zh=clean["name_zh"], is_active=clean["is_active"], position=(last or 0) + 1)
        db.session.add(row)
        db.session.flush()
        audit.record("resolution_code.create", "resolution_code", row.id, actor=actor, category=category_code,
                     code=row.code, after=_code_snapshot(row))
        return row
    audit.update_recorded(row, clean, RESOLUTION_CODE_FIELDS, _code_snapshot, "resolution_code.update",
                          "resolution_code", actor=actor, category=category_code, code=row.code)
    db.session.flush()
    return row
