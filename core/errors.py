"""Domain errors raised by services, and the one place they become HTTP answers."""
from __future__ import annotations

import sys
from typing import Any

import sqlalchemy as sa
from flask import Flask, g, has_request_context, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException, SecurityError

from core.extensions import db

API_PREFIXES = ("/api/", "/open311/", "/field/push/", "/field/sync")


class DomainError(Exception):
    """A refusal a user can understand; the request changes nothing.

    Raised inside a request, it marks the request as refused: the request's commit becomes a
    rollback whatever its status (core.database.commit_request), so a view that catches it and
    redirects cannot save half a change. One made while handling another takes its place (a
    conversion). Code that handles one itself and carries on (a parse fallback, a per-row import
    report, a savepoint per sync item) says so with `recovered(err)`. Login refusals are the
    deliberate exception: the login views commit the attempt row before answering.
    """

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
        if has_request_context():
            handled = sys.exc_info()[1]
            refusals = g.setdefault("refusals", [])
            if isinstance(handled, DomainError):  # made while handling another: it takes that one's place
                refusals[:] = [e for e in refusals if e is not handled]
            refusals.append(self)


def recovered(err: DomainError) -> None:
    """This refusal was handled where it was caught; it no longer stops the request's commit."""
    if has_request_context():
        g.refusals = [e for e in g.get("refusals", []) if e is not err]


def request_refused() -> bool:
    """Was a DomainError made in this request and not recovered? Then nothing it did is saved."""
    # only those raised: parse helpers build their refusal before they know they need it
    return has_request_context() and any(e.__traceback__ is not None for e in g.get("refusals", ()))


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


UNAVAILABLE_RETRY_SECONDS = 2  # Retry-After on a 503 for a busy or unreachable database


def database_unavailable(err: sa.exc.DBAPIError) -> bool:
    """Is this a passing condition worth a retry (SQLite's write lock held past the busy timeout;
    PostgreSQL restarting, unreachable, or a deadlock/serialization victim), not a bug?"""
    if err.connection_invalidated:
        return True
    module = type(err.orig).__module__
    if module.startswith("sqlite3"):
        text = str(err.orig).lower()
        return "database is locked" in text or "database is busy" in text
    return module.startswith("psycopg") and isinstance(err, (sa.exc.OperationalError, sa.exc.InterfaceError))


def unavailable_response(app: Flask):
    """A clean 503 the client can retry: JSON {"error": ...} for the API, a bare page otherwise.

    Built without the database (which is what is missing): the language comes from the session
    or Accept-Language, not the user's row, and the page does not extend base.html.
    """
    from flask import session
    from flask_babel import force_locale
    from markupsafe import escape

    languages = app.config.get("LANGUAGES") or ["en"]
    locale = session.get("locale") if session.get("locale") in languages else None
    with force_locale(locale or request.accept_languages.best_match(languages) or languages[0]):
        message = str(_l("The database is busy or restarting; nothing was saved. Try again in a moment."))
    if wants_json():
        body, status = json_error(503, "unavailable", message)
        resp = app.make_response((body, status))
    else:
        page = f"<!doctype html><meta charset=utf-8><title>503</title><h1>503</h1><p>{escape(message)}</p>"
        resp = app.make_response((page, 503, {"Content-Type": "text/html; charset=utf-8"}))
    resp.headers["Retry-After"] = str(UNAVAILABLE_RETRY_SECONDS)
    return resp


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

    @app.errorhandler(sa.exc.DBAPIError)
    def database_error(err: sa.exc.DBAPIError):
        try:
            db.session.rollback()
        except sa.exc.DBAPIError:  # the connection is gone; the pool replaces it
            db.session.remove()
        if not database_unavailable(err):
            return unexpected(err)
        app.logger.warning("database unavailable on %s %s: %s", request.method, request.path,
                           type(err.orig).__name__)
        return unavailable_response(app)

    @app.errorhandler(Exception)
    def unexpected(err: Exception):
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json():
            return json_error(500, "server_error", "Internal error")
        return render_template("error.html", status=500, message=None), 500
