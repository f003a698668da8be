"""The log scan at the end of a test run (tests/conftest.py): lines that carry a customer's phone
number or a demo customer's street address."""
from __future__ import annotations

import functools
import os
import re
from urllib.parse import unquote_plus

# a mainland mobile, whole or with spaces or dashes (the test factories' numbers are of this form);
# masked ones (138****8000) are what the logs may show
PHONE = re.compile(r"(?<![\d.])1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)")
DIGITS = re.compile(r"\d{11,}")
# the demo's addresses: "<n> <road> Road, <District>"
ADDRESS = re.compile(r"\b\d+ [A-Z][A-Za-z' ]*? Road, [A-Z][a-z]+")


@functools.cache
def demo_customers() -> tuple[frozenset[str], frozenset[str]]:
    """The demo city's customers' phone numbers and addresses (seed 24, as `flask demo` loads them)."""
    from core import demo_city

    seeds = demo_city.customers(demo_city.load_districts(), n=2000, seed=24)
    return frozenset(c.phone for c in seeds), frozenset(c.address for c in seeds)


def leaks_in(line: str) -> bool:
    """Whether a log line carries a phone number, or a demo customer's number (also inside +86…) or
    address — as it is, or URL-encoded (q=15+Zhuzilin+Road%2C+Futian)."""
    phones, addresses = demo_customers()
    line = f"{line} {unquote_plus(line)}"
    if PHONE.search(line):
        return True
    for run in DIGITS.findall(line):
        if any(run[i:i + 11] in phones for i in range(len(run) - 10)):
            return True
    return any(m.group(0) in addresses for m in ADDRESS.finditer(line))


def leaked_lines(folder: str) -> list[tuple[str, str]]:
    """(file name, line) for every leaking line of the run's log files."""
    out = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as fh:
            out.extend((name, line.rstrip("\n")) for line in fh if leaks_in(line))
    return out
