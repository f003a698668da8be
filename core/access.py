"""One permission mechanism for every page and API route: deny unless a route says who may.

Each view is marked with `@allow(role, ...)`, `@allow_any_user` or `@public`; a
before-request check enforces it for every endpoint, so a route without a mark is
refused. Object-level checks (whose order, which station) live in the services.
"""
from __future__ import annotations

from typing import Any, Callable

import sqlalchemy as sa
from flask import Flask, abort, current_app, g, redirect, request, url_for
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


def may(endpoint: str) -> bool:
    """May the current user use this route? Its @allow mark answers (templates: `may('bp.view')`)."""
    roles = allowed_roles(current_app, endpoint)
    if roles is None:
        return endpoint in current_app.view_functions or endpoint == "static"  # public
    return user_may(current_user, roles)


def register_access(app: Flask) -> None:
    app.add_template_global(may)

    @app.before_request
    def enforce_route_policy():
        if request.endpoint is None:
            return None  # 404/405 follow
        roles = allowed_roles(app, request.endpoint)
        view = app.view_functions.get(request.endpoint)
        csrf_applies = (app.config.get("WTF_CSRF_ENABLED", True)
                        and request.method in app.config.get("WTF_CSRF_METHODS", ("POST", "PUT", "PATCH", "DELETE"))
                        and not getattr(view, "csrf_exempt", False))  # routes keyed by their own secret
        if roles is None and not csrf_applies:
            return None  # public, nothing to check: the user is not even loaded (static files)
        # Who first: an anonymous write to a route that needs a user is 401, not a CSRF error.
        authenticated = current_user.is_authenticated  # the session cookie first, then a bearer token
        if roles is not None and not authenticated:
            if wants_json():
                return json_error(401, "unauthorized", "Log in or send a bearer token.")
            return redirect(url_for("core.login", next=request.full_path.rstrip("?")))
        # A valid bearer token cannot be added by another site without CORS (which we never grant),
        # so a caller it authenticated needs no CSRF token. The header alone proves nothing: when
        # the session cookie authenticates ("Bearer junk" beside it), the CSRF token is required.
        if csrf_applies and not (authenticated and g.get("bearer_auth", False)):
            try:
                csrf.protect()
            except CSRFError as err:
                if wants_json():
                    return json_error(400, "csrf", err.description)
                abort(400, err.description)
        if roles is None:
            return None
        if not user_may(current_user, roles):
            if wants_json():
                return json_error(403, "forbidden", "Your role may not use this.")
            abort(403)
        return None


# --------------------------------------------------------------------------- station scope
#
# Which stations' objects a user may read, in one place (a Python check and a SQL clause):
#
#   admin, dispatcher, centre manager   every station (station_scope: None)
#   station supervisor                  their station: its orders, its customers (those with an
#                                       order at the station), its store, vans and loans
#   stock keeper                        their station's store, vans, loans and units; the catalogue
#                                       and the shared repair centre; never orders or customers
#   technician                          their station as a place; within it only what is theirs:
#                                       the orders assigned to them (others' orders do not exist:
#                                       404), their van, the units in it or on their orders;
#                                       never other customers
#
# Each domain adds the narrower rules (a technician's orders, the repair centre) on top of
# these; an object outside the scope is answered as missing (404), never as forbidden, so
# its id cannot be probed.

NO_STATION = -1  # no station has this id: a station role without a station sees nothing


def sees_all_stations(user: Any) -> bool:
    """Admins, dispatchers and centre managers (supervisors without a station)."""
    return bool(user is not None and (user.role in ("admin", "dispatcher") or user.is_centre_manager))


def station_scope(user: Any) -> int | None:
    """The one station whose objects the user may read, or None for every station."""
    if sees_all_stations(user):
        return None
    station_id = getattr(user, "station_id", None)
    return station_id if station_id is not None else NO_STATION


def in_scope(user: Any, station_id: int | None) -> bool:
    """May the user read an object of this station? (An object of no station: only all-station users.)"""
    scope = station_scope(user)
    return scope is None or (station_id is not None and station_id == scope)


def scope_clause(user: Any, column: Any) -> Any:
    """`in_scope` as SQL on a station id column: true() for all-station users."""
    scope = station_scope(user)
    return sa.true() if scope is None else column == scope
