"""Strict parsing of what requests carry: whole numbers, ids, decimals, dates, times and JSON.

One set of rules for JSON bodies, forms, query strings and CSV rows, so that no input can reach
a conversion, a comparison or a database column it does not fit:

- only ASCII digits count (``str.isdigit()`` also says yes to ``²`` and ``٣``, which ``int()``
  then refuses or reads as 3), and a number has a bounded count of digits *before* anything
  converts it (``int()`` refuses more than 4,300 digits, ``float(10**400)`` overflows);
- floats are finite;
- an id fits the smallest id column of both databases (PostgreSQL ``integer``, 2**31 - 1);
  SQLite refuses more than 2**63 - 1 and PostgreSQL more than the column holds — both 500s;
- dates and times lie within 2000–2100, so adding a day or converting a zone never leaves
  ``datetime``'s range (0001-01-01 with a positive offset cannot be converted to UTC);
- JSON nests at most ``MAX_JSON_DEPTH`` levels (Python's decoder raises RecursionError, not
  ValueError, at about a thousand) and has no NaN or Infinity.

Each parser returns None for an absent value (None or "") and raises Invalid (422) naming the field.
"""
from __future__ import annotations

import json
import math
import re
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l

from core.errors import Invalid, recovered

MAX_ID = 2**31 - 1  # PostgreSQL integer; SQLite's 2**63 - 1 is larger
MAX_BIGINT = 2**63 - 1
MIN_YEAR, MAX_YEAR = 2000, 2100
MAX_JSON_DEPTH = 32  # a GeoJSON MultiPolygon needs 5
MAX_NUMBER_LENGTH = 40  # characters of a number written as text, sign and exponent included

_INT = re.compile(r"[+-]?[0-9]{1,18}")  # 18 digits: below 2**63 whatever the sign
_FLOAT = re.compile(r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})(?:[eE][+-]?[0-9]{1,3})?")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?|\.[0-9]{1,20})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.,+\-Z]{2,40}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_CURLY_AS_SQUARE = bytes.maketrans(b"{}", b"[]")


def _absent(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def _not_integer(field: str) -> Invalid:
    return Invalid(str(_l("%(name)s must be a whole number.", name=field)), {field: "not_integer"})


def _out_of_range(field: str, lo: Any, hi: Any) -> Invalid:
    return Invalid(str(_l("%(name)s must be from %(lo)s to %(hi)s.", name=field, lo=lo, hi=hi)),
                   {field: "out_of_range"})


def parse_int(raw: Any, field: str, *, lo: int, hi: int, text: bool = True) -> int | None:
    """A whole number from lo to hi. `text=False` (JSON fields typed integer) takes only a JSON
    integer; otherwise also ASCII digits with an optional sign, and a float with no fraction."""
    if _absent(raw):
        return None
    if isinstance(raw, bool):
        raise _not_integer(field)
    if isinstance(raw, int):
        value = raw
    elif text and isinstance(raw, float):
        if not (math.isfinite(raw) and raw.is_integer()):
            raise _not_integer(field)
        if not lo <= raw <= hi:
            raise _out_of_range(field, lo, hi)
        value = int(raw)
    elif text and isinstance(raw, str):
        stripped = raw.strip()
        if not _INT.fullmatch(stripped):
            if re.fullmatch(r"[+-]?[0-9]+", stripped):  # ASCII digits, only too many of them
                raise _out_of_range(field, lo, hi)
            raise _not_integer(field)
        value = int(stripped)
    else:
        raise _not_integer(field)
    if not lo <= value <= hi:  # int against int: exact for any size, never converts
        raise _out_of_range(field, lo, hi)
    return value


def parse_id(raw: Any, field: str, *, text: bool = True) -> int | None:
    """A row id (1 … 2**31 - 1: it fits every id column on both databases)."""
    return parse_int(raw, field, lo=1, hi=MAX_ID, text=text)


def is_digits(raw: Any) -> bool:
    """Whether a text is ASCII digits (around blanks): a number, not a name (unlike str.isdigit(), no '²')."""
    return isinstance(raw, str) and re.fullmatch(r"[0-9]+", raw.strip()) is not None


def is_id(value: Any) -> bool:
    """Whether a value is an int a database id column can hold (for services given typed values)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


def ids_from(values: Any) -> list[int]:
    """The valid ids among some raw values (checkbox lists); the others are left out."""
    out = []
    for raw in values or ():
        try:
            value = parse_id(raw, "id")
        except Invalid as err:
            recovered(err)
            continue
        if value is not None:
            out.append(value)
    return out


def parse_float(raw: Any, field: str, *, lo: float, hi: float, text: bool = True) -> float | None:
    """A finite number from lo to hi (a JSON number, or decimal text with an optional exponent)."""
    if _absent(raw):
        return None
    bad = Invalid(str(_l("%(name)s must be a number from %(lo)s to %(hi)s.", name=field, lo=lo, hi=hi)),
                  {field: "not_number"})
    if isinstance(raw, bool):
        raise bad
    if isinstance(raw, int):
        if not lo <= raw <= hi:  # compared exactly: 10**400 is refused here, before float() overflows
            raise _out_of_range(field, lo, hi)
        return float(raw)
    if isinstance(raw, float):
        value = raw
    elif text and isinstance(raw, str):
        stripped = raw.strip()
        if len(stripped) > MAX_NUMBER_LENGTH or not _FLOAT.fullmatch(stripped):
            raise bad
        value = float(stripped)
    else:
        raise bad
    if not math.isfinite(value):
        raise bad
    if not lo <= value <= hi:
        raise _out_of_range(field, lo, hi)
    return value


def to_float(raw: Any, *, lo: float, hi: float) -> float | None:
    """parse_float for callers that only need "a number in range, or not": None when it is not."""
    try:
        return parse_float(raw, "value", lo=lo, hi=hi)
    except Invalid as err:
        recovered(err)
        return None


def parse_decimal(raw: Any, field: str, *, lo: Decimal, hi: Decimal, places: int = 2) -> Decimal | None:
    """An amount from lo up to (not including) hi, rounded to `places` decimals."""
    if _absent(raw):
        return None
    bad = Invalid(str(_l("%(name)s must be an amount from %(lo)s to %(hi)s.", name=field, lo=lo, hi=hi)),
                  {field: "not_number"})
    if isinstance(raw, bool):
        raise bad
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int):
        if not lo <= raw < hi:  # before Decimal(): an int of 5,000 digits converts slowly
            raise bad
        value = Decimal(raw)
    elif isinstance(raw, float):
        if not math.isfinite(raw):
            raise bad
        value = Decimal(repr(raw))
    elif isinstance(raw, str) and _DECIMAL.fullmatch(raw.strip()):
        value = Decimal(raw.strip())
    else:
        raise bad
    try:
        value = value.quantize(Decimal(1).scaleb(-places))  # first: 99999999.999 rounds up to the limit
    except InvalidOperation:
        raise bad from None
    if not value.is_finite() or not lo <= value < hi:
        raise bad
    return value


def _year_ok(year: int) -> bool:
    return MIN_YEAR <= year <= MAX_YEAR


def parse_date(raw: Any, field: str) -> date | None:
    """A day written YYYY-MM-DD within 2000–2100."""
    if _absent(raw):
        return None
    bad = Invalid(str(_l("%(name)s must be a date YYYY-MM-DD from %(lo)s to %(hi)s.", name=field,
                         lo=MIN_YEAR, hi=MAX_YEAR)), {field: "not_date"})
    if isinstance(raw, datetime) or not isinstance(raw, (str, date)):
        raise bad
    if isinstance(raw, str):
        if not _DATE.fullmatch(raw.strip()):
            raise bad
        try:
            raw = date.fromisoformat(raw.strip())
        except ValueError:
            raise bad from None
    if not _year_ok(raw.year):
        raise bad
    return raw


def parse_datetime(raw: Any, field: str) -> datetime | None:
    """An ISO 8601 time with its UTC offset (or Z) within 2000–2100, returned in UTC."""
    if _absent(raw):
        return None
    bad = Invalid(str(_l("%(name)s must be an ISO 8601 time with offset from %(lo)s to %(hi)s.", name=field,
                         lo=MIN_YEAR, hi=MAX_YEAR)), {field: "not_datetime"})
    if isinstance(raw, datetime):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if not _DATETIME.fullmatch(text):
            raise bad
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise bad from None
    else:
        raise bad
    if value.tzinfo is None or value.utcoffset() is None:
        raise Invalid(str(_l("%(name)s needs a UTC offset (or Z).", name=field)), {field: "needs_offset"})
    if not _year_ok(value.year):  # checked before converting: 0001-01-01+01:00 has no UTC time
        raise bad
    return value.astimezone(timezone.utc)


# --------------------------------------------------------------------------- text and JSON

def bad_text(value: Any) -> str | None:
    """"nul" or "surrogate" when a string anywhere in a (JSON) value holds a NUL character or a
    lone surrogate (neither database can store one), else None. Walks without recursing."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "nul"
            if _SURROGATE.search(item):
                return "surrogate"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def json_too_deep(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects deeper than `limit`, found without parsing it.

    Strings are cut out, the brackets kept; each round removes the innermost empty pairs, so
    what is left after `limit` rounds nests deeper. Malformed text (unbalanced) is left to the parser.
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    skeleton = _NOT_BRACKET.sub(b"", _JSON_STRING.sub(b"", data)).translate(_CURLY_AS_SQUARE)
    for _round in range(limit):
        reduced = skeleton.replace(b"[]", b"")
        if not reduced:
            return False
        if reduced == skeleton:
            return False  # unbalanced: not JSON, the parser says so
        skeleton = reduced
    return True


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("the number is out of range")
    return value


def loads_json(raw: bytes | str, **kwargs: Any) -> Any:
    """json.loads with the limits above; ValueError (as json.loads raises) for whatever breaks them."""
    if json_too_deep(raw):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float, **kwargs)
    except RecursionError:  # malformed and deep: never a server error
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
