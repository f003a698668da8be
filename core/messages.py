"""Stored text as a message code and its parameters, rendered in the reader's language when shown.

A package declares the texts it stores once, as a `Messages` table (code → lazy template with
%(name)s parameters). A row keeps the code and the parameters (JSON) beside the English text,
which stays for exports, the API and the rows written before codes existed: a code no table
knows renders that stored text. Parameters that are reference data (a category) are stored as
their code and turned into a name by the table's `refs` when shown, so they follow the reader's
language too. A parameter may itself be a stored message ({"msg": code, "params": {...}}).
"""
from __future__ import annotations

from typing import Any, Callable

from flask_babel import force_locale

_codes: dict[str, Messages] = {}  # every registered code → its table (codes are unique across packages)


class Stored(str):
    """The English text of a message, carrying its code and parameters for the row that stores it.

    A `str`, so the services that take a note or a reason keep working unchanged; whoever stores it
    keeps `.code` and `.params` beside the text.
    """

    code: str
    params: dict[str, Any]

    def __new__(cls, text: str, code: str, params: dict[str, Any]) -> Stored:
        self = super().__new__(cls, text)
        self.code, self.params = code, params
        return self

    def as_param(self) -> dict[str, Any]:
        return {"msg": self.code, "params": self.params, "text": str.__str__(self)}


class Messages:
    """One package's stored texts. `templates`: code → lazy string, or a (title, body) pair for an
    alert; `refs`: parameter name → callable turning the stored id/code into a name in the current
    language."""

    def __init__(self, templates: dict[str, Any], refs: dict[str, Callable[[Any], Any]] | None = None):
        self.templates, self.refs = templates, refs or {}

    def stored(self, code: str, /, **params: Any) -> Stored:
        """The message to store: its English text, code and (JSON-safe) parameters."""
        params = {k: v.as_param() if isinstance(v, Stored) else v for k, v in params.items()}
        with force_locale("en"):
            text = _render(self, code, params)
        return Stored(text, code, params)

    def _values(self, params: dict[str, Any]) -> dict[str, Any]:
        values = {}
        for name, value in params.items():
            if isinstance(value, dict) and "msg" in value:
                value = render(value["msg"], value.get("params") or {}, value.get("text") or "")
            elif name in self.refs and value is not None:
                value = self.refs[name](value)
            values[name] = value if value is not None else ""
        return values


def register(tables: list[Messages]) -> None:
    """Make the packages' tables known to `render` (create_app lists them; nothing registers on import)."""
    for table in tables:
        for code in table.templates:
            if _codes.get(code, table) is not table:
                raise ValueError(f"message code {code!r} is declared twice")
        _codes.update(dict.fromkeys(table.templates, table))


def codes() -> dict[str, Messages]:
    return dict(_codes)


def render(code: str | None, params: dict[str, Any] | None, fallback: str = "", part: int = 0) -> str:
    """The stored message in the current language; `fallback` (the stored text) for an unknown code.
    `part` picks the title (0) or the body (1) of an alert's pair."""
    table = _codes.get(code or "")
    if table is None:
        return fallback
    return _render(table, code, params, fallback, part)  # type: ignore[arg-type]


def _render(table: Messages, code: str, params: dict[str, Any] | None, fallback: str = "", part: int = 0) -> str:
    template = table.templates.get(code)
    if template is None:
        return fallback
    if isinstance(template, tuple):
        template = template[part]
    elif part:  # a one-part message has no body
        return fallback
    text = str(template)  # a lazy string: translated into the current language here
    try:
        return text % table._values(params or {})
    except (KeyError, TypeError, ValueError):  # a row stored with other parameters than the template wants
        return fallback or text
