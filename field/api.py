"""Routes of the mobile app used by scripts and the service worker (push keys, subscriptions, sync)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, g, jsonify, request, session
from flask_login import current_user, user_logged_out

from core.access import allow_any_user
from core.apiutil import json_body
from core.errors import NotFound
from field import push, services

bp = Blueprint("field_api", __name__, url_prefix="/field")

DEVICE_KEY = "push_subscription_id"  # the device this browser session subscribed, forgotten at logout


@bp.record_once
def _forget_device_at_logout(state: Any) -> None:
    user_logged_out.connect(_logged_out, state.app)


def _logged_out(app: Flask, user: Any = None, **_: Any) -> None:
    """Logging out frees this browser's push subscription: the next user of the phone may take it."""
    if user is not None and getattr(user, "is_authenticated", False):
        services.forget_device(user, session.pop(DEVICE_KEY, None))


@bp.get("/push/vapid-public-key")
@allow_any_user
def vapid_public_key():
    return jsonify(publicKey=push.public_key())


@bp.post("/push/subscriptions")
@allow_any_user
def subscribe():
    sub = services.subscribe(current_user, json_body(), request.headers.get("User-Agent", ""))
    if not g.get("bearer_auth", False):
        session[DEVICE_KEY] = sub.id
    return jsonify(id=sub.id, endpoint=sub.endpoint, origin=sub.origin), 201


@bp.delete("/push/subscriptions")
@allow_any_user
def unsubscribe():
    if not services.unsubscribe(current_user, json_body().get("endpoint")):
        raise NotFound("No such subscription for you.", {"endpoint": "not_found"})
    return "", 204
