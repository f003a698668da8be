"""Language choice and the operator's time zone for display."""
from __future__ import annotations

from datetime import datetime
from typing import Callable
from zoneinfo import ZoneInfo

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import LazyString, format_datetime
from flask_login import current_user


def select_locale() -> str | None:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI commands and jobs
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if session.get("locale") in languages:
        return session["locale"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    return request.accept_languages.best_match(languages, default=current_app.config["BABEL_DEFAULT_LOCALE"])


def current_language() -> str:
    """The configured language code in use ('en' or 'zh_CN'), as LANGUAGES names it."""
    from flask_babel import get_locale
    locale = get_locale()
    for code in current_app.config["LANGUAGES"]:
        if locale is not None and code.split("_")[0] == locale.language:
            return code
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def lazy_name(pick: Callable[[str], str]) -> LazyString:
    """A name stored in each language (e.g. `Category.label`), picked when the text is rendered.

    Pass it as a variable of a lazy string: an alert renders in its recipient's language
    (core.outbox.enqueue), so a name picked at creation would follow the request's instead.
    """
    return LazyString(lambda: pick(current_language()))


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
    app.jinja_env.globals["current_language"] = current_language
    from core.maps import leaflet_draw_strings
    app.jinja_env.globals["leaflet_draw_strings"] = leaflet_draw_strings
    app.jinja_env.add_extension("jinja2.ext.i18n")


def compile_catalogs(root: str | None = None) -> list[str]:
    """Compile every package's zh_CN catalogue to where Babel looks for it.

    Babel resolves `zh_CN` to `zh_Hans_CN` and gettext then tries `zh_Hans_CN` and `zh`,
    never `zh_CN`; so the sources stay under zh_CN (the code people know) and the
    compiled catalogue goes under zh_Hans_CN. Returns the files written.
    """
    import os
    from pathlib import Path

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    base = Path(root) if root else Path(__file__).resolve().parent.parent
    written = []
    for po_path in sorted([*base.glob("*/translations*/zh_CN/LC_MESSAGES/messages.po"),
                           *base.glob("dispatch/*/translations*/zh_CN/LC_MESSAGES/messages.po")]):
        with po_path.open("rb") as fh:
            catalog = read_po(fh, locale="zh_CN")
        mo_path = po_path.parent.parent.parent / "zh_Hans_CN" / "LC_MESSAGES" / "messages.mo"
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        tmp = mo_path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        os.replace(tmp, mo_path)  # atomic: parallel test workers may compile at once
        written.append(str(mo_path))
    return written
