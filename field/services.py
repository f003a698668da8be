"""field: push subscriptions and the notification inbox (services never commit)."""
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
from core.errors import Conflict, Invalid
from core.extensions import db
from field.models import PushSubscription
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
