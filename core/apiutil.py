"""Small helpers every JSON API uses: the body, paging, the OpenAPI registry."""
from __future__ import annotations

from typing import Any

from flask import request

from core.errors import BadRequest, Invalid
from core.extensions import MAX_PAGE
from core.parse import parse_int

# Each api.py adds its paths here at import; GET /api/v1/openapi.json serves them.
OPENAPI_PATHS: dict[str, dict[str, Any]] = {}
OPENAPI_SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "fields": {"type": "object", "additionalProperties": {"type": "string"}}}}}},
}


def document(path: str, method: str, summary: str, *, body: dict[str, Any] | None = None,
             response: dict[str, Any] | None = None, status: int = 200,
             params: list[dict[str, Any]] | None = None, errors: tuple[int, ...] = (400, 401, 403, 422)) -> None:
    op: dict[str, Any] = {"summary": summary, "responses": {
        str(status): {"description": "OK", "content": {"application/json": {"schema": response or {"type": "object"}}}},
    }}
    for code in errors:
        op["responses"][str(code)] = {"description": "Error",
                                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    OPENAPI_PATHS.setdefault(path, {})[method.lower()] = op


def json_body() -> dict[str, Any]:
    """The request's JSON object, or a 400 that says what is wrong with it."""
    if not request.is_json:
        raise BadRequest("Send a JSON body with Content-Type: application/json.")
    data = request.get_json(silent=True)
    if data is None:
        raise BadRequest("The body is not valid JSON.")
    if not isinstance(data, dict):
        raise BadRequest("The body must be a JSON object.")
    return data


def int_arg(name: str, default: int, lo: int = 1, hi: int = 10_000) -> int:
    value = parse_int(request.args.get(name), name, lo=lo, hi=hi)
    return default if value is None else value


def paginated(db: Any, stmt: Any, serialize: Any, per_page_max: int = 500) -> dict[str, Any]:
    page = int_arg("page", 1, 1, MAX_PAGE)
    per_page = int_arg("per_page", 50, 1, per_page_max)
    result = db.paginate(stmt, page=page, per_page=per_page, error_out=False, max_per_page=per_page_max)
    return {"items": [serialize(x) for x in result.items], "total": result.total, "page": page, "per_page": per_page}


def string_field(data: dict[str, Any], name: str, *, required: bool = False, max_len: int = 255) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise Invalid(f"{name} is required.", {name: "required"})
        return None
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text.", {name: "not_text"})
    if len(value) > max_len:
        raise Invalid(f"{name} must be at most {max_len} characters.", {name: "too_long"})
    return value
