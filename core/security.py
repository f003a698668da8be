"""Security headers, the CSP nonce, and cookies that are Secure behind HTTPS."""
from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, g, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix


class SessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


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


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def refuse_nul_characters() -> None:
    """PostgreSQL text cannot hold NUL, and no real input has one: refuse it at the door."""
    if "\x00" in request.path or any(_has_nul(k) or _has_nul(v) for k, v in request.args.items(multi=True)):
        abort(400, "NUL characters are not allowed in the address.")
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.is_json and _has_nul(request.get_json(silent=True)):
            abort(400, "NUL characters are not allowed in the body.")
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") and any(
                _has_nul(k) or _has_nul(v) for k, v in request.form.items(multi=True)):
            abort(400, "NUL characters are not allowed in the form.")


def register_security(app: Flask) -> None:
    app.before_request(refuse_nul_characters)
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
