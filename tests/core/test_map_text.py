"""Every folium map the app serves carries user text only as JSON string literals in its script.

The incident page, the live map and the station editor are rendered with script and template-literal
payloads in customer and station names; in each inline map script, once every double-quoted string
literal is taken out, no payload and no template literal (backtick) may remain, and the names must be
among the literals exactly (so the browser gets them as text: tests/e2e/test_injection.py checks that)."""
from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

PAYLOADS = ('<img src=x onerror="window.__xss=1">', "</script><script>window.__xss=1</script>",
            "${window.__xss=1}", "`+(window.__xss=1)+`", '"><svg onload=window.__xss=1>')
NAMES = [f"N{i} {PAYLOADS[i]}{PAYLOADS[(i + 2) % 5]}" for i in range(5)]

_SCRIPT_RE = re.compile(r"<script nonce=\"[^\"]+\">(.*?)</script>", re.S)
_STRING_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def map_scripts(html: str) -> list[str]:
    scripts = [s for s in _SCRIPT_RE.findall(html) if "L.map(" in s]
    assert scripts, "no folium map script on the page"
    return scripts


def assert_text_only_in_strings(html: str, expected: list[str]) -> None:
    literals: set[str] = set()
    for script in map_scripts(html):
        rest = _STRING_RE.sub('""', script)
        assert "`" not in rest, "a template literal in a map script"
        assert "xss" not in rest, "user text outside a string literal"
        literals.update(json.loads(s) for s in _STRING_RE.findall(script))
    for text in expected:
        assert text in literals, text


@pytest.fixture
def tainted(app, make_station, make_user, make_customer):
    from core.auth import get_user
    from core.extensions import db
    from dispatch.orders import services
    from dispatch.deadlines.services import incidents
    from dispatch.deadlines.models import Incident

    s1 = make_station("S01", lon=114.0, lat=22.5, size=0.02, name=NAMES[0])
    s2 = make_station("S02", lon=114.02, lat=22.5, size=0.02, name=NAMES[1])
    tech = make_user("technician", username="t1", station=s1, skills=["digital_tv"])
    disp = make_user("dispatcher", username="disp")
    admin = make_user("admin", username="boss")
    customers = [make_customer(name=name, lat=22.505, lon=114.005) for name in NAMES]
    with app.app_context():
        services.ensure_reference_data()
        services.set_duty(get_user(tech.id), on_duty=True, shift="day")
        services.record_position(tech.id, 22.504, 114.004)
        numbers = [services.create_order({"customer_id": c.id, "category": "DTV-MOSAIC", "description": "x",
                                          "lat": 22.505 + i * 0.00009, "lon": 114.005}, get_user(disp.id)).number
                   for i, c in enumerate(customers)]
        incidents.detect_incidents()
        db.session.commit()
        incident = db.session.scalar(sa.select(Incident.id))
    return {"s1": s1, "s2": s2, "disp": disp, "admin": admin, "numbers": numbers, "incident": incident}


def test_incident_map(client, login, tainted):
    login(tainted["disp"])
    html = client.get(f"/dispatch/incidents/{tainted['incident']}").get_data(as_text=True)
    assert_text_only_in_strings(html, [f"{n} — {name}" for n, name in zip(tainted["numbers"], NAMES)])


def test_live_map(client, login, tainted):
    login(tainted["disp"])
    html = client.get("/dispatch/map").get_data(as_text=True)
    assert_text_only_in_strings(html, [f"S01 {NAMES[0]}", f"S02 {NAMES[1]}", "S01", "t1"])


@pytest.mark.parametrize("which, neighbours", [("s1", ["S02"]), ("s2", ["S01"]), (None, ["S01", "S02"])])
def test_station_editor_map(client, login, tainted, which, neighbours):
    login(tainted["admin"])
    url = f"/admin/stations/{tainted[which].id}" if which else "/admin/stations/new"
    html = client.get(url).get_data(as_text=True)
    names = {"S01": NAMES[0], "S02": NAMES[1]}
    assert_text_only_in_strings(html, [f"{code} {names[code]}" for code in neighbours])
