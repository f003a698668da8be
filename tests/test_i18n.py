"""Every UI string is translated into Simplified Chinese, in every package's catalogue."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from core.extensions import db

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


def _catalogues() -> dict[str, list]:
    """Every zh_CN catalogue the app loads (BABEL_TRANSLATION_DIRECTORIES), by its directory."""
    from core.config import Config
    found = {}
    for directory in Config.BABEL_TRANSLATION_DIRECTORIES.split(";"):
        po_path = Path(directory) / "zh_CN" / "LC_MESSAGES" / "messages.po"
        if po_path.exists():
            with po_path.open("rb") as fh:
                found[str(Path(directory).relative_to(ROOT))] = list(read_po(fh))
    return found


def test_the_app_loads_every_packages_catalogue():
    loaded = set(_catalogues())
    on_disk = {str(p.parent.parent.parent.relative_to(ROOT))
               for p in ROOT.glob("**/translations*/zh_CN/LC_MESSAGES/messages.po") if ".venv" not in p.parts}
    assert loaded == on_disk


def test_one_msgid_has_one_translation_across_catalogues():
    """Flask-Babel merges the catalogues and the last one loaded wins: a msgid translated two ways
    shows another package's word on some page. Same meaning: agree one term; other meaning: a context."""
    seen: dict[tuple[str | None, str], dict[str, object]] = {}
    for where, messages in _catalogues().items():
        for m in messages:
            if not m.id or "fuzzy" in m.flags:
                continue
            text = tuple(m.string) if isinstance(m.string, (list, tuple)) else m.string
            if not text or (isinstance(text, tuple) and not all(text)):
                continue
            key = (m.context, m.id if isinstance(m.id, str) else m.id[0])
            seen.setdefault(key, {})[where] = text
    conflicts = {key: found for key, found in seen.items() if len(set(found.values())) > 1}
    assert not conflicts, "\n".join(f"{key}: {found}" for key, found in sorted(conflicts.items(), key=str))


# the operator's words, one each: a term said two ways reads as two different things
GLOSSARY = {"技术员": "维修员"}  # technician


def test_the_operators_terms_are_said_one_way():
    said_otherwise = [(where, m.id, variant) for where, messages in _catalogues().items() for m in messages
                      for variant in GLOSSARY
                      if variant in " ".join(m.string if isinstance(m.string, (list, tuple)) else [m.string or ""])]
    assert not said_otherwise, said_otherwise


# --- stored texts: reasons, notes and alerts are codes, rendered in the reader's language

CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
ENGLISH_WORD = re.compile(r"[A-Za-z]{3,}")


def _is_chinese(text: str) -> bool:
    """Chinese text: some CJK, and no English word left (codes like S01 or DTV are not words)."""
    return bool(CJK.search(text)) and not ENGLISH_WORD.search(text)


def test_every_stored_message_code_has_a_chinese_text(app):
    from flask_babel import force_locale

    from core.messages import codes
    table = codes()
    assert {"placement.inside", "placement.by_hand", "sla.escalated", "alert.order_assigned", "alert.overdue",
            "alert.stock_low", "callback.closed"} <= set(table)  # every package's renderer is registered
    with app.test_request_context():
        for code, messages in table.items():
            template = messages.templates[code]
            for part in template if isinstance(template, tuple) else (template,):
                with force_locale("en"):
                    english = str(part)
                with force_locale("zh_CN"):
                    chinese = str(part)
                if ENGLISH_WORD.search(PLACEHOLDER.sub("", english)):  # "%(reason)s → %(technician)s" has no words
                    assert _is_chinese(PLACEHOLDER.sub("", chinese)), (code, english, chinese)
                assert sorted(PLACEHOLDER.findall(chinese)) == sorted(PLACEHOLDER.findall(english)), code


def test_stored_reason_note_and_alert_render_in_chinese(ctx, make_station, make_user, make_customer):
    from flask_babel import force_locale

    from core.auth import get_user
    from core.outbox import Notification
    from dispatch.deadlines.messages import stored as deadline_message
    from dispatch.orders import services
    from dispatch.orders.models import OrderEvent

    station = make_station("S01", name="福田站", district="福田区")  # stations have one name, as typed
    tech = make_user("technician", station=station, skills=["digital_tv"], full_name="王师傅")
    dispatcher = make_user("dispatcher")
    customer = make_customer()
    services.ensure_reference_data()
    services.set_duty(get_user(tech.id), on_duty=True, shift="day")
    order = services.create_order({"customer_id": customer.id, "category": "DTV-MOSAIC", "description": "x",
                                   "channel": "hotline"}, get_user(dispatcher.id))
    escalated = services.add_event(order, "escalated", None, deadline_message("sla.escalated", level=2), level=2)
    db.session.flush()
    assigned = next(e for e in services.timeline(order) if e.type == "assigned")
    alert = db.session.scalar(sa.select(Notification).where(Notification.recipient_id == tech.id))

    assert order.placement_reason == "inside S01's area"  # the English text stays for exports and the API
    assert escalated.note == "Deadline passed; escalated to level 2"
    with force_locale("zh_CN"):
        texts = [order.placement_text, assigned.note_text, db.session.get(OrderEvent, escalated.id).note_text,
                 alert.title_text, alert.body_text]
    for text in texts:
        assert _is_chinese(PLACEHOLDER.sub("", text)), text
    assert "S01" in texts[0] and "2" in texts[2] and order.number in texts[3]
    assert "数字电视马赛克" in texts[4]  # the category, stored as its code, in the reader's language
