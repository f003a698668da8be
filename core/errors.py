"""Domain errors raised by services, and the one place they become HTTP answers."""
from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, SecurityError

from core.extensions import db

API_PREFIXES = ("/api/", "/open311/", "/field/push/", "/field/sync")


class DomainError(Exception):
    """A refusal a user can understand; the request changes nothing."""

    status = 422
    code = "invalid"

    def __init__(self, message: str, fields: dict[str, str] | None = None, *,
                 code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code
        if status:
            self.status = status


class Invalid(DomainError):
    status, code = 422, "invalid"


class BadRequest(DomainError):
    status, code = 400, "bad_request"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


def wants_json() -> bool:
    return request.path.startswith(API_PREFIXES) or (
        request.accept_mimetypes.best == "application/json")


def json_error(status: int, code: str, message: str, fields: dict[str, str] | None = None):
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return jsonify(error=body), status


HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "too_large", 414: "too_long",
              415: "unsupported_media_type",
              422: "invalid", 429: "too_many_requests"}


def register_errorhandlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(err: DomainError):
        db.session.rollback()
        if wants_json():
            return json_error(err.status, err.code, err.message, err.fields)
        return render_template("error.html", status=err.status, message=err.message), err.status

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        db.session.rollback()
        status = err.code or 500
        if isinstance(err, SecurityError):  # untrusted Host: no URLs can be built, answer plainly
            return "Bad Request: untrusted host", 400, {"Content-Type": "text/plain; charset=utf-8"}
        # werkzeug's own headers (Allow on a 405, WWW-Authenticate, Retry-After ...), not its body type
        headers = [(k, v) for k, v in err.get_headers() if k.lower() not in ("content-type", "content-length")]
        if wants_json():
            body, _ = json_error(status, HTTP_CODES.get(status, "error"), err.description or err.name)
            return body, status, headers
        return render_template("error.html", status=status, message=err.description), status, headers

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return json_error(500, "server_error", "Internal error")
        return render_template("error.html", status=500, message=None), 500
