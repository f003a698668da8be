"""Routes of the mobile app used by scripts and the service worker (push keys, subscriptions, sync)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user

from core.access import allow_any_user
from core.apiutil import json_body
from core.errors import NotFound
from field import push, services

bp = Blueprint("field_api", __name__, url_prefix="/field")


@bp.get("/push/vapid-public-key")
@allow_any_user
def vapid_public_key():
    return jsonify(publicKey=push.public_key())


@bp.post("/push/subscriptions")
@allow_any_user
def subscribe():
    sub = services.subscribe(current_user, json_body(), request.headers.get("User-Agent", ""))
    return jsonify(id=sub.id, endpoint=sub.endpoint, origin=sub.origin), 201


@bp.delete("/push/subscriptions")
@allow_any_user
def unsubscribe():
    if not services.unsubscribe(current_user, json_body().get("endpoint")):
        raise NotFound("No such subscription for you.", {"endpoint": "not_found"})
    return "", 204
