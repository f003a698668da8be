"""Language choice and the operator's time zone for display."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app, request, session
from flask_babel import format_datetime
from flask_login import current_user


def select_locale() -> str | None:
    languages = current_app.config["LANGUAGES"]
    if session.get("locale") in languages:
        return session["locale"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return request.accept_languages.best_match(languages, default=current_app.config["BABEL_DEFAULT_LOCALE"])


def select_timezone() -> str:
    return current_app.config["TIMEZONE"]


def local_time(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """A UTC datetime in the operator's zone, as the people there read clocks."""
    if value is None:
        return ""
    return format_datetime(value, fmt)


def iso_local(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(ZoneInfo(current_app.config["TIMEZONE"])).isoformat(timespec="seconds")


def register_i18n(app: Flask) -> None:
    from flask_babel import get_locale
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.add_extension("jinja2.ext.i18n")
