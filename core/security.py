"""Security headers, the CSP nonce, cookies that are Secure behind HTTPS, and the door check of
every request's text, JSON and body size."""
from __future__ import annotations

import secrets
from typing import Any, Callable
from urllib.parse import urlsplit

import flask
from flask import Flask, abort, current_app, g, request
from flask.json.provider import DefaultJSONProvider
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from core.parse import MAX_ID, MAX_JSON_DEPTH, bad_text, json_too_deep, loads_json


class SessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: ASCII digits, at most an id's ten, at most MAX_ID — a longer
    number is a 404 like any unknown id, never an overflow in the database driver."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None, max: int | None = MAX_ID,
                 signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def _tile_origin(app: Flask) -> str:
    parts = urlsplit(app.config.get("TILES_URL") or "")
    if not parts.scheme or not parts.netloc:
        return ""
    host = parts.netloc
    if "{s}" in host:  # Leaflet subdomains a/b/c
        host = host.replace("{s}", "*")
    return f"{parts.scheme}://{host}"


def upload(*, text: bool) -> Callable:
    """Mark a view that takes file uploads: its body may be UPLOAD_MAX_BYTES, not MAX_CONTENT_LENGTH.

    The limit is decided when the URL is matched (see Request), before anything reads the body.
    The files of a `text=True` upload (CSV) are checked at the door like any other text.
    """
    def mark(view: Callable) -> Callable:
        view.upload_text = text  # type: ignore[attr-defined]
        return view
    return mark


def _upload_view(app: Flask, endpoint: str | None) -> Any:
    view = app.view_functions.get(endpoint) if endpoint else None
    return view if view is not None and hasattr(view, "upload_text") else None


class Request(flask.Request):
    """A request whose body limit is the upload limit on upload views (@upload), from the moment
    its URL is matched: so no check that reads the form first can cut an upload at 2 MB."""

    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        if self._max_content_length is None and self.url_rule is not None and current_app:
            if _upload_view(current_app, self.url_rule.endpoint) is not None:
                return current_app.config["UPLOAD_MAX_BYTES"]
        return flask.Request.max_content_length.fget(self)  # type: ignore[attr-defined]

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


# gunicorn refuses request lines over 4 KiB; a longer query string is no browser's or client's. Far below
# SQLite's 50,000-byte limit on a LIKE pattern, so a search term can never exceed it.
MAX_QUERY_BYTES = 8 * 1024

_WHERE = {"address": _l("the address"), "header": _l("a header"), "body": _l("the body"),
          "form": _l("the form"), "file": _l("an uploaded file")}


def _refuse(problem: str, where: str) -> None:
    if problem == "nul":
        abort(400, _("NUL characters are not allowed in %(where)s.", where=_WHERE[where]))
    if problem == "surrogate":
        abort(400, _("Text in %(where)s is not valid Unicode (a lone surrogate).", where=_WHERE[where]))
    abort(400, _("The JSON body is nested too deeply (at most %(n)d levels).", n=MAX_JSON_DEPTH))


def _pairs(multi: Any) -> list[str]:
    return [text for key, value in multi.items(multi=True) for text in (key, value)]


def refuse_bad_text() -> None:
    """The one check of all text a request brings, before any view or query sees it.

    PostgreSQL text holds no NUL and neither database stores a lone surrogate (a JSON "\\ud800"):
    both are refused anywhere — the address, headers, a JSON body, a form, an uploaded text file.
    A JSON body must parse (no NaN, no 1e400) and nest at most MAX_JSON_DEPTH levels. Form values
    cannot hold surrogates (werkzeug keeps undecodable bytes percent-encoded) but are checked all the same.
    """
    if len(request.query_string) > MAX_QUERY_BYTES:
        abort(414, _("The address is too long."))
    problem = bad_text([request.path, _pairs(request.args)])
    if problem:
        _refuse(problem, "address")
    if any("\x00" in value for _name, value in request.headers.items()):
        _refuse("nul", "header")
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    if request.is_json:
        raw = request.get_data(cache=True)
        if json_too_deep(raw):
            _refuse("deep", "body")
        body = request.get_json(silent=True)
        if body is None and raw.strip():  # what no view can read is refused here, whatever it hides
            abort(400, _("The body is not valid JSON."))
        problem = bad_text(body)
        if problem:
            _refuse(problem, "body")
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        problem = bad_text(_pairs(request.form) + [f.filename or "" for _name, f in request.files.items(multi=True)])
        if problem:
            _refuse(problem, "form")
        view = _upload_view(current_app, request.endpoint)
        if view is not None and view.upload_text:
            for _name, upload_file in request.files.items(multi=True):
                data = upload_file.read()
                upload_file.seek(0)
                if b"\x00" in data:
                    _refuse("nul", "file")


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON with core.parse's limits: too deep, NaN or Infinity is a decoding error (400)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_json(s, **kwargs)


def register_security(app: Flask) -> None:
    app.request_class = Request
    app.json = JSONProvider(app)
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_bad_text)
    app.session_interface = SessionInterface()
    hops = int(app.config.get("PROXY_FIX_HOPS") or 0)
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def headers(response):
        tiles = _tile_origin(app)
        policy = (
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{csp_nonce()}'; "
            # folium and Leaflet set style attributes on the elements they create
            "style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob: {tiles}; "
            "font-src 'self' data:; connect-src 'self'; worker-src 'self'; manifest-src 'self'; "
            "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
        )
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self), microphone=()")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
