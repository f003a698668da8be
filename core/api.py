"""/api/v1: tokens, the caller, stations, the OpenAPI description."""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_login import current_user

from core import auth, stations
from core.access import allow_any_user, csrf_exempt, public
from core.apiutil import OPENAPI_PATHS, OPENAPI_SCHEMAS, document, json_body, string_field
from core.errors import json_error
from core.extensions import db

bp = Blueprint("core_api", __name__, url_prefix="/api/v1")


def me_json(user: auth.User) -> dict:
    return {"id": user.id, "username": user.username, "full_name": user.full_name, "role": user.role,
            "station": user.station.code if user.station else None}


@bp.route("/auth/tokens", methods=["POST"])
@public
@csrf_exempt
def create_token():
    data = json_body()
    username = string_field(data, "username", required=True, max_len=80)
    password = string_field(data, "password", required=True, max_len=200)
    try:
        user = auth.authenticate(username or "", password or "", request.remote_addr or "")
    except (auth.LoginRefused, auth.LoginThrottled) as err:
        db.session.commit()  # the failed attempt counts towards throttling
        return json_error(err.status, err.code, err.message)
    name = data.get("name") if isinstance(data.get("name"), str) else "api"
    token = auth.issue_token(user, name)
    return jsonify(token=token, user=me_json(user)), 201


document("/auth/tokens", "post", "Exchange a username and password for a bearer token", status=201,
         body={"type": "object", "required": ["username", "password"],
               "properties": {"username": {"type": "string"}, "password": {"type": "string"},
                              "name": {"type": "string"}}},
         response={"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}},
         errors=(400, 401, 422, 429))


@bp.route("/auth/tokens/current", methods=["DELETE"])
@allow_any_user
def revoke_current_token():
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or not auth.revoke_token(header[7:].strip()):
        return json_error(400, "no_token", "Call this with the bearer token to revoke.")
    return "", 204


document("/auth/tokens/current", "delete", "Revoke the bearer token this call carries", status=204)


@bp.route("/me")
@allow_any_user
def me():
    return jsonify(me_json(current_user))


document("/me", "get", "The caller", response={"type": "object", "required": ["id", "username", "role"],
         "properties": {"id": {"type": "integer"}, "username": {"type": "string"}, "role": {"type": "string"},
                        "station": {"type": ["string", "null"]}}})


@bp.route("/stations")
@allow_any_user
def station_list():
    items = [stations.station_json(s) for s in stations.all_stations()]
    return jsonify(items=items, total=len(items), page=1, per_page=len(items))


document("/stations", "get", "Stations with their coverage areas")


@bp.route("/openapi.json")
@public
def openapi():
    return jsonify({
        "openapi": "3.1.0",
        "info": {"title": "Restore24 API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "components": {"schemas": OPENAPI_SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": OPENAPI_PATHS,
    })
