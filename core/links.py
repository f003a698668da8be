"""Links that leave the app (a customer's survey link): their host comes from the settings.

A link built from the request (`url_for(..., _external=True)`) names whatever `Host` header the
request carried, and a link sent to a customer must not point where a forged header says. So:

1. `PUBLIC_BASE_URL` ("https://restore24.example.org"), when set, is the link's scheme and host;
2. else `SERVER_NAME`: Flask builds external URLs on it, whatever the request's Host;
3. else `TRUSTED_HOSTS`: the Host header was checked against the list before the view ran;
4. else only in debug or testing the request's host (a developer's machine); in production the
   link is refused, and `warn_if_unconfigured` said so at start-up.
"""
from __future__ import annotations

from typing import Any

from flask import Flask, current_app, url_for
from flask_babel import lazy_gettext as _l

from core.errors import DomainError


class NoPublicAddress(DomainError):
    status, code = 503, "no_public_url"


def _host_is_configured(app: Flask) -> bool:
    return bool(app.config.get("PUBLIC_BASE_URL") or app.config.get("SERVER_NAME") or app.config.get("TRUSTED_HOSTS"))


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of an endpoint for someone outside (needs a request context)."""
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").strip().rstrip("/")
    if base:
        return base + url_for(endpoint, **values)
    if _host_is_configured(current_app) or current_app.debug or current_app.testing:
        return url_for(endpoint, _external=True, **values)
    raise NoPublicAddress(str(_l("Links for customers need the app's public address: the administrator "
                                 "must set PUBLIC_BASE_URL (or SERVER_NAME or TRUSTED_HOSTS).")))


def warn_if_unconfigured(app: Flask) -> None:
    """At start-up: production without a configured host cannot build links for customers."""
    if not _host_is_configured(app) and not app.debug and not app.testing:
        app.logger.warning("None of PUBLIC_BASE_URL, SERVER_NAME and TRUSTED_HOSTS is set: links sent "
                           "to customers (survey links) are refused until one is, rather than built "
                           "on the request's Host header")
