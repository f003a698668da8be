"""CSV files that people open in a spreadsheet: text that would run as a formula is defused.

OWASP's advice (CSV injection): a cell that starts with = + - @ tab or carriage return is
read by Excel and LibreOffice as a formula — `=HYPERLINK(...)`, `+cmd|' /C calc'!A0`,
`@SUM(...)`. Such text cells get a leading single quote, which spreadsheets take as
"this is text" and do not show. Numbers stay numbers: an int -5 or a float -0.5 is written
as it is, and so is text that is a plain number ("-5", "+8613800138000"), which no
spreadsheet runs.

Every export writes through `writer()`; every import that reads our own exports back
passes cells through `plain_cell()`, so an exported file re-imports unchanged.

Every export is answered with `csv_response()`: UTF-8 with a byte order mark, without which
Excel reads the file in the machine's ANSI code page and garbles Chinese names. Imports read
the file with `read_text()`, which drops the mark, so an exported file round-trips.

Not covered: a spreadsheet that splits our comma-separated file at `;` (some locales do)
sees a cell start in the middle of a value; the quote guards only the start of our cells.
"""
from __future__ import annotations

import csv
import re
from typing import Any, Iterable, TextIO

from flask import Response

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """The value, with a leading ' when it is text that a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def plain_cell(value: Any) -> Any:
    """The inverse of safe_cell for a cell read back from a file: the added quote is dropped."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_START) \
            and not _PLAIN_NUMBER.fullmatch(value[1:]):
        return value[1:]
    return value


def plain_row(row: dict[Any, Any]) -> dict[Any, Any]:
    """A csv.DictReader row with every cell passed through plain_cell."""
    return {key: plain_cell(value) for key, value in row.items()}


class SafeWriter:
    """csv.writer's writerow/writerows, with every cell passed through safe_cell."""

    def __init__(self, out: TextIO, **fmt: Any):
        self._writer = csv.writer(out, **fmt)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: TextIO, **fmt: Any) -> SafeWriter:
    """A CSV writer for exports: like csv.writer, with formula-looking text defused."""
    return SafeWriter(out, **fmt)


def csv_response(text: str, filename: str) -> Response:
    """A CSV download that Excel opens right in every language: UTF-8 with a BOM, as an attachment.

    The file name keeps ASCII letters, digits, dots, dashes and underscores only (anything else
    becomes a dash), so no header can be split or quoted open by it."""
    filename = re.sub(r"[^A-Za-z0-9._-]", "-", filename)[:120] or "export.csv"
    return Response(BOM + text.removeprefix(BOM), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def read_text(data: str | bytes) -> str:
    """The text of an uploaded CSV, without a BOM (our exports and Excel's "CSV UTF-8" carry one).

    Raises UnicodeDecodeError for bytes that are not UTF-8; callers turn it into their refusal."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    return text.removeprefix(BOM)
