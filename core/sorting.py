"""A list's sort order from the query string: `sort=column` (ascending) or `sort=-column` (descending).

Each list names the columns a person may sort by (a whitelist of SQL expressions) and its default.
A value that names none of them is ignored with a notice for the page, never an error: an old
bookmark or a hand-edited link still shows the list. The sort runs in SQL with the list's id as
the last key, so a page boundary never moves between two requests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from flask_babel import lazy_gettext as _l


@dataclass
class Sort:
    key: str
    descending: bool
    columns: Mapping[str, Any] = field(repr=False)
    notice: str | None = None

    @property
    def value(self) -> str:
        """The query-string value that asks for this order again (pager links, filter forms)."""
        return ("-" if self.descending else "") + self.key

    def link(self, key: str) -> str:
        """The value a column header links to: this column ascending, or reversed when it is the sort."""
        return ("" if self.descending else "-") + key if key == self.key else key

    def aria(self, key: str) -> str:
        if key != self.key:
            return "none"
        return "descending" if self.descending else "ascending"

    def apply(self, stmt: Any, tiebreak: Any) -> Any:
        """The select ordered by the chosen column, then `tiebreak` (the id) in the same direction;
        NULLs last either way, so empty cells never crowd the first page."""
        col = self.columns[self.key]
        # a NOT NULL column sorts on its own: the list's index (e.g. the ledger's (at, id)) still serves it
        first = [col.is_(None)] if getattr(getattr(col, "expression", col), "nullable", True) else []
        if self.descending:
            return stmt.order_by(None).order_by(*first, col.desc(), tiebreak.desc())
        return stmt.order_by(None).order_by(*first, col.asc(), tiebreak.asc())


def parse_sort(raw: Any, columns: Mapping[str, Any], default: str) -> Sort:
    """The sort `raw` asks for among `columns`; `default` (e.g. "-reported") when absent or unknown."""
    def make(value: str, notice: str | None = None) -> Sort:
        descending = value.startswith("-")
        return Sort(value.lstrip("-"), descending, columns, notice)

    if not isinstance(raw, str) or not raw.strip():
        return make(default)
    value = raw.strip()
    if value.lstrip("-") in columns and value.count("-") <= 1:
        return make(value)
    return make(default, str(_l("This list cannot be sorted by “%(value)s”; it is shown in its usual order.",
                                value=value[:40])))
