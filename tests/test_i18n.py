"""Every UI string is translated into Simplified Chinese, in every package's catalogue."""
from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"core": ["core", "templates", "app.py"], "dispatch/orders": ["dispatch/orders"],
            "dispatch/deadlines": ["dispatch/deadlines"], "dispatch/reports": ["dispatch/reports"],
            "dispatch/livemap": ["dispatch/livemap"], "field": ["field"],
            "inventory": ["inventory"]}
METHODS = [("**/translations*/**", "ignore"), ("**.py", "python"), ("**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None,
            "pgettext": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2)}


def _msgids(sources: list[str]) -> set[tuple[str | None, str]]:
    """(context, msgid) pairs: the catalogues are merged, so one msgid has one meaning unless a context tells them apart."""
    ids: set[tuple[str | None, str]] = set()
    for src in sources:
        path = ROOT / src
        if path.is_file():
            from babel.messages.extract import extract_from_file
            found = extract_from_file("python", str(path), keywords=KEYWORDS)
            ids.update((m[3], m[1] if isinstance(m[1], str) else m[1][0]) for m in found)
            continue
        for _fn, _ln, msg, _c, ctx in extract_from_dir(str(path), METHODS, keywords=KEYWORDS):
            ids.add((ctx, msg if isinstance(msg, str) else msg[0]))
    return ids


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_every_string_has_a_chinese_translation(package):
    ids = _msgids(PACKAGES[package])
    if not ids:
        return
    po_paths = sorted((ROOT / package).glob("translations*/zh_CN/LC_MESSAGES/messages.po"))
    assert po_paths, f"{package}: no zh_CN catalogue; run `make messages` and translate"
    translated: set[tuple[str | None, str]] = set()
    for po_path in po_paths:
        with po_path.open("rb") as fh:
            for m in read_po(fh):
                strings = m.string if isinstance(m.string, tuple) else (m.string,)
                if m.id and all(strings) and "fuzzy" not in m.flags:
                    translated.add((m.context, m.id if isinstance(m.id, str) else m.id[0]))  # plurals: (singular, plural)
    untranslated = sorted(ids - translated, key=str)
    assert not untranslated, f"{package}: untranslated strings: {untranslated}"


def test_pages_render_in_chinese(client, make_user, login):
    user = make_user("admin")
    login(user)
    client.post("/language/zh_CN")
    page = client.get("/admin/").get_data(as_text=True)
    assert "管理" in page and "Administration" not in page
