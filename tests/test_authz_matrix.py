"""The authorization matrix: every route of the app, for every role and for nobody."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from werkzeug.routing.converters import NumberConverter

from core.access import ANY_USER, allowed_roles
from core.auth import ROLES

ALL = set(ROLES)


def _table() -> dict[str, object]:
    table: dict[str, object] = {}
    for mod in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if mod.name.startswith("authz_"):
            table.update(importlib.import_module(mod.name).ROUTES)
    return table


TABLE = _table()


def _expected(entry: object) -> frozenset[str] | None:
    if entry == "public":
        return None
    if entry == "any":
        return frozenset(ALL)
    return frozenset(entry)  # type: ignore[arg-type]


def _sample_url(rule) -> str:
    values = {}
    for arg, conv in rule._converters.items():
        values[arg] = 999999 if isinstance(conv, NumberConverter) else "ZZ-none"
    return rule.build(values, append_unknown=False)[1]


def test_every_route_is_in_the_table(app):
    missing = sorted({r.endpoint for r in app.url_map.iter_rules()
                      if r.endpoint != "static" and r.endpoint not in TABLE})
    assert not missing, f"routes missing from tests/authz_*.py: {missing}"


def test_table_names_only_existing_routes(app):
    stale = sorted(set(TABLE) - set(app.view_functions))
    assert not stale, f"tables name routes that do not exist: {stale}"


def test_declared_policy_matches_the_table(app):
    for endpoint, entry in TABLE.items():
        if endpoint not in app.view_functions:
            continue
        roles = allowed_roles(app, endpoint)
        declared = None if roles is None else (frozenset(ALL) if ANY_USER in roles else frozenset(roles))
        assert declared == _expected(entry), endpoint


def _requests(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        url = _sample_url(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


@pytest.mark.parametrize("role", [None, *ROLES])
def test_each_role_gets_what_the_table_says(app, make_user, make_station, role):
    station = make_station()
    client = app.test_client()
    if role:
        user = make_user(role, station=station if role in ("technician", "stockkeeper", "supervisor") else None)
        resp = client.post("/login", data={"username": user.username, "password": "password123"})
        assert resp.status_code == 302
    failures = []
    for endpoint, method, url in _requests(app):
        if endpoint in ("core.logout",):
            continue  # would end this client's session mid-walk; covered in test_auth
        if endpoint not in TABLE:
            failures.append((endpoint, method, url, None, "not in tests/authz_*.py"))
            continue
        expected = _expected(TABLE[endpoint])
        kwargs = {"json": {}} if "/api/" in url else {"data": {}}
        resp = client.open(url, method=method, **kwargs)
        code = resp.status_code
        if code >= 500 and not (endpoint == "ops.readyz" and code == 503):  # not ready: no worker runs here
            failures.append((endpoint, method, url, code, "server error"))
        elif expected is None:
            continue
        elif role is None:
            api = url.startswith(("/api/", "/field/push", "/field/sync"))
            ok = code == 401 if api else (code == 302 and "/login" in resp.headers.get("Location", ""))
            if not ok:
                failures.append((endpoint, method, url, code, "anonymous not refused"))
        elif role in expected:
            if code in (401, 403):
                failures.append((endpoint, method, url, code, "allowed role refused"))
        elif code != 403:
            failures.append((endpoint, method, url, code, "role not refused"))
    assert not failures, "\n".join(map(str, failures))
