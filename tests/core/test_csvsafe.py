"""CSV exports defuse text a spreadsheet would run as a formula (OWASP), and read back unchanged."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest

from core import csvsafe


@pytest.mark.parametrize("text", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx", "-", "=",
                                  "=HYPERLINK(\"http://x\",\"y\")"])
def test_formula_text_gets_a_quote_and_comes_back(text):
    assert csvsafe.safe_cell(text) == "'" + text
    assert csvsafe.plain_cell(csvsafe.safe_cell(text)) == text


@pytest.mark.parametrize("value", [-5, 0, -0.5, Decimal("-1.20"), None, "", "-5", "+8613800138000", "-1.5e3",
                                   "Wang Fang", "a=b", "'quoted", "'plain text"])
def test_numbers_and_harmless_text_are_written_as_they_are(value):
    assert csvsafe.safe_cell(value) == value
    assert csvsafe.plain_cell(value) == value  # a quote we did not add is kept


def test_writer_quotes_text_cells_only():
    out = io.StringIO()
    w = csvsafe.writer(out)
    w.writerow(["sku", "qty"])
    w.writerows([["=1+1", -5], ["@x", Decimal("2.50")]])
    assert out.getvalue().splitlines() == ["sku,qty", "'=1+1,-5", "'@x,2.50"]
    rows = [csvsafe.plain_row(r) for r in csv.DictReader(io.StringIO(out.getvalue()))]
    assert rows == [{"sku": "=1+1", "qty": "-5"}, {"sku": "@x", "qty": "2.50"}]
