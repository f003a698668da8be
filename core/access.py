"""One permission mechanism for every page and API route: deny unless a route says who may.

Each view is marked with `@allow(role, ...)`, `@allow_any_user` or `@public`; a
before-request check enforces it for every endpoint, so a route without a mark is
refused. Object-level checks (whose order, which station) live in the services.
"""
from __future__ import annotations

from typing import Any, Callable

from flask import Flask, abort, redirect, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from core.errors import Forbidden, json_error, wants_json
from core.extensions import csrf

ANY_USER = "*"


def allow(*roles: str) -> Callable:
    def mark(view: Callable) -> Callable:
        view.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        return view
    return mark


def allow_any_user(view: Callable) -> Callable:
    view.allowed_roles = frozenset({ANY_USER})  # type: ignore[attr-defined]
    return view


def public(view: Callable) -> Callable:
    view.is_public = True  # type: ignore[attr-defined]
    return view


def csrf_exempt(view: Callable) -> Callable:
    """For routes authenticated by a secret in the request itself (Open311 api_key, one-time links)."""
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def allowed_roles(app: Flask, endpoint: str) -> frozenset[str] | None:
    """The roles a route admits; None for public routes; empty for unmarked (denied) ones."""
    view = app.view_functions.get(endpoint)
    if view is None or getattr(view, "is_public", False) or endpoint == "static":
        return None
    return getattr(view, "allowed_roles", frozenset())


def user_may(user: Any, roles: frozenset[str]) -> bool:
    return bool(user and user.is_authenticated and (ANY_USER in roles or user.role in roles))


def require(condition: bool, message: str = "") -> None:
    """An object-level check inside a service or view."""
    if not condition:
        raise Forbidden(message or "You may not do that.")


def register_access(app: Flask) -> None:
    @app.before_request
    def enforce_route_policy():
        if request.endpoint is None:
            return None  # 404/405 follow
        roles = allowed_roles(app, request.endpoint)
        view = app.view_functions.get(request.endpoint)
        # A bearer header cannot be added by another site without CORS (which we never
        # grant), so such calls need no CSRF token; nor do routes keyed by their own secret.
        has_bearer = request.headers.get("Authorization", "").startswith("Bearer ")
        if (app.config.get("WTF_CSRF_ENABLED", True) and not has_bearer
                and not getattr(view, "csrf_exempt", False)):
            try:
                csrf.protect()
            except CSRFError as err:
                if wants_json():
                    return json_error(400, "csrf", err.description)
                abort(400, err.description)
        if roles is None:
            return None
        if not current_user.is_authenticated:
            if wants_json():
                return json_error(401, "unauthorized", "Log in or send a bearer token.")
            return redirect(url_for("core.login", next=request.full_path.rstrip("?")))
        if not user_may(current_user, roles):
            if wants_json():
                return json_error(403, "forbidden", "Your role may not use this.")
            abort(403)
        return None
