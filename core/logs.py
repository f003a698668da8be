"""Personal data kept out of the logs, whichever logger wrote a record and whichever handler takes it.

Three leaks are closed here, as a last line behind not logging personal data in the first place
(the geocoder logs no address, the engine hides SQL parameters — core.config):

- phone numbers anywhere in a message or traceback are masked (138****8000, as the UI shows them);
- the values of searching query parameters (q=, phone=, …) in logged URLs are dropped, so the
  access logs of werkzeug and gunicorn do not carry what people searched for;
- what a database puts in an error about the row ("[parameters: …]", PostgreSQL's "DETAIL: Key
  (…)=(…)" and "Failing row contains (…)") is hidden from tracebacks.

`install()` wraps the log record factory, so every record is cleaned as it is made — records of
werkzeug, gunicorn, SQLAlchemy and the app alike, and for handlers added later (gunicorn's, a log
shipper's, pytest's). `PersonalDataFilter` does the same as a logging.Filter, for a dictConfig.
"""
from __future__ import annotations

import logging
import re
from typing import Any

# mainland mobiles (13800138000, 138 0013 8000, +86 138…) and other international numbers (+44 20 …)
# (%2B: a + in a URL); a digit run inside a longer one, or after a decimal point, is left alone
_PHONE = re.compile(r"(?<![\d.])(?:(?:\+|%2[Bb]|00)86[ +-]?)?1[3-9]\d(?:[ +-]?\d{4}){2}(?!\d)"
                    r"|(?:\+|%2[Bb])\d[\d +-]{6,16}\d(?!\d)")
SEARCH_PARAMS = ("q", "query", "search", "term", "phone", "mobile", "tel", "name", "address", "contact")
# q=… after ? or & in a URL, or on its own (gunicorn's %(q)s atom is the bare query string)
_QUERY_VALUE = re.compile(r"((?<![\w%%.-])(?:%s)=)[^&;#\s\"'<>]*" % "|".join(SEARCH_PARAMS), re.IGNORECASE)
_DB_DETAIL = re.compile(r"(\[parameters: |^DETAIL: +|Failing row contains ).*", re.MULTILINE)
HIDDEN = "***"


def _mask_phone(match: re.Match[str]) -> str:
    """138****8000 as core.customers.mask_phone shows it; +86138****8000, +442*****0958 abroad."""
    found = match.group(0)
    digits = re.sub(r"\D", "", found[3:] if found.startswith("%2") else found)
    prefix = "+" if found.startswith(("+", "%2", "00")) else ""
    if prefix and re.fullmatch(r"(00)?861[3-9]\d{9}", digits):
        prefix, digits = "+86", digits[-11:]
    return prefix + digits[:3] + "*" * max(len(digits) - 7, 1) + digits[-4:]


def scrub(text: str) -> str:
    """Text with phone numbers masked, search values dropped from URLs and database row details hidden."""
    text = _QUERY_VALUE.sub(lambda m: m.group(1) + HIDDEN, text)
    text = _DB_DETAIL.sub(lambda m: m.group(1) + HIDDEN + ("]" if m.group(1).startswith("[") else ""), text)
    return _PHONE.sub(_mask_phone, text)


_formatter = logging.Formatter()


def clean_record(record: logging.LogRecord) -> logging.LogRecord:
    """The record with its message (and traceback, formatted now) cleaned; untouched when already clean."""
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it when the record is emitted
        return record
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and not record.exc_text:
        trace = _formatter.formatException(record.exc_info)
        cleaned_trace = scrub(trace)
        if cleaned_trace != trace:
            record.exc_text = cleaned_trace  # formatters print exc_text when it is set
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


class PersonalDataFilter(logging.Filter):
    """Cleans every record it sees (see clean_record); never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        clean_record(record)
        return True


def install() -> None:
    """Clean every log record of this process from now on; calling it again changes nothing."""
    make = logging.getLogRecordFactory()
    if getattr(make, "cleans_personal_data", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return clean_record(make(*args, **kwargs))

    factory.cleans_personal_data = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
