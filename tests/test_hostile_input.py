"""Every route of the URL map, every method, every field it reads, with hostile values: huge numbers,
out-of-range dates, exotic digits, lone surrogates, NUL, deep nesting, overlong strings — sent as
JSON, form fields, query parameters, CSV uploads and path segments, by each role the route admits.

Whatever comes, the answer is never a 5xx; and nothing is written: every table is read before and
after each request. A request whose only hostile values are in fields the server rightly ignores
or trims (flags, `next`, a free-text filter) is only checked for 5xx. The few routes that write
whatever they are sent (the login counts a failed attempt; a reveal or an export is audited) may
change exactly the rows named in LEGIT_WRITES, no others.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.extensions import db
from testsupport import PASSWORD, stock_technician_van

ROLES = ("admin", "dispatcher", "supervisor", "technician", "stockkeeper")
HUGE = 10**400


class Raw(str):
    """A JSON token written as is (numbers json.dumps cannot write: 1e400, NaN, 5,000 digits)."""


def dumps(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)  # ensure_ascii: a lone surrogate travels as \ud800, as a client would send it


DEEP_ARRAY = Raw("[" * 100_000 + "]" * 100_000)
DEEP_OBJECT = Raw('{"a":' * 50_000 + "1" + "}" * 50_000)

# Values each kind of field must refuse (in JSON, then as text in forms and query strings).
BAD_INT_JSON = [HUGE, -HUGE, 2**31, 2**63, 2**64, -1, -(2**63) - 1, 1.5, 1e308, True, Raw("1" * 5000),
                Raw("1e400"), Raw("NaN"), "²", "٣", "--5", "1" * 5000, "9" * 25, [], {}]
BAD_INT_TEXT = ["1" * 400, "1" * 5000, "-1", "2147483648", "9" * 25, "²", "٣", "--5", "+-1", "1.5", "1e400",
                "nan", "0x10", "1_000", b"\xed\xa0\x80", b"\xff"]
BAD_NUMBER_JSON = [HUGE, -HUGE, Raw("1e400"), Raw("-1e400"), Raw("NaN"), Raw("Infinity"), 1e308, -1e308, "١٢",
                   "12abc", True, [1], {"a": 1}, Raw("9" * 5000)]
BAD_NUMBER_TEXT = ["1" * 400, "1e400", "nan", "inf", "-inf", "١٢", "1e308", "12,5", "0x1p3", "²",
                   b"\xed\xa0\x80"]
BAD_DATES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01", "9999-12-31", "2026-02-30",
             "٢٠٢٦-٠٣-٠١", "2026-03-01T00:00:00+25:00", "1" * 5000]
BAD_DATE_JSON = BAD_DATES + [HUGE, 1e308, Raw("NaN")]
BAD_TEXT_TEXT = ["x" * 5000, "汉" * 70_000]
BAD_TEXT_JSON = BAD_TEXT_TEXT + [12345, HUGE, ["a"], {"a": 1}]
DOOR_JSON = ["a\x00b", "\ud800", "x\udfffy", DEEP_ARRAY, DEEP_OBJECT]  # refused before any view runs
DOOR_TEXT = ["a\x00b", "\x00"]

STRICT = ("int", "id", "number", "date", "datetime", "text", "geojson")
# int/id/number/date/datetime: refused when bad; text: has a length limit or a closed set of
# values; geojson: parsed; loose: trimmed, ignored or a flag — hostile there need not be refused.


def field_values(kind: str, as_json: bool) -> list[Any]:
    if kind in ("int", "id"):
        return BAD_INT_JSON if as_json else BAD_INT_TEXT
    if kind == "number":
        return BAD_NUMBER_JSON if as_json else BAD_NUMBER_TEXT
    if kind in ("date", "datetime"):
        return BAD_DATE_JSON if as_json else BAD_DATES
    if kind == "geojson":
        return [str(DEEP_ARRAY), '{"type":"Polygon","coordinates":[[[1e400,1],[2,2],[3,1],[1e400,1]]]}',
                "x" * 5000, json.dumps({"type": "Polygon", "coordinates": [[[HUGE, 1], [2, 2], [3, 1], [HUGE, 1]]]})]
    return BAD_TEXT_JSON if as_json else BAD_TEXT_TEXT  # text and loose: '²' is fine text


# --------------------------------------------------------------------------- what each route reads

LISTING = {"page": "int", "per_page": "int"}
SORTED = {"sort": "text"}  # core.sorting: a column name, "-" before it for descending
REPORT_FILTERS = {"from": "date", "to": "date", "station": "text", "technician": "text", "category": "text",
                  "service_line": "text"}
ANSWERS = {"reached": "text", "fixed": "loose", "on_time": "loose", "polite": "loose", "satisfaction": "int",
           "comment": "text"}

QUERY: dict[str, dict[str, str]] = {
    "admin.users": {"role": "loose", "q": "loose", **LISTING, **SORTED},
    "admin.audit_log": {"since": "date", "until": "date", "action": "loose", "actor": "loose",
                        "object_type": "text", "object_id": "text", **LISTING},
    "admin.customer_list": {"q": "loose", **LISTING},
    "admin.customer_export": {"q": "loose"},
    "dispatch_api.order_list": {"status": "text", "station": "text", "technician": "text", "bbox": "text",
                                "overdue": "text", "queue": "text", "q": "loose", **LISTING},
    "dispatch_map_api.orders_geojson": {"bbox": "text", "station": "text", "status": "text", "kind": "text",
                                        "sla_state": "text", "service_line": "text"},
    "reports_api.report_kpis": REPORT_FILTERS,
    "inventory_api.item_list": {"q": "loose", "category": "loose", **LISTING},
    "inventory_api.location_list": {"kind": "loose", **LISTING},
    "inventory_api.stock_list": {"location": "loose", "sku": "loose", **LISTING},
    "dispatch.index": {"queue": "loose", "q": "loose", "station": "text", **LISTING, **SORTED},
    "dispatch.new_order": {"q": "loose", "customer_id": "loose"},
    "dispatch_board.index": {"station": "loose"},
    "dispatch_board.incidents": {"station": "loose"},
    "inventory.index": {"location": "loose", "sku": "loose", "category": "loose", "station": "loose",
                        "low": "loose", **LISTING},
    "inventory.export_levels": {"location": "loose", "sku": "loose", "station": "loose"},
    "inventory.items": {"q": "loose", "category": "loose", **LISTING},
    "inventory.units": {"serial": "loose", "q": "text", "status": "text", "location": "id", "item": "id", **LISTING,
                        **SORTED},
    "inventory.moves": {"location": "id", "item": "id", "type": "text", "from": "date", "to": "date", "order": "text",
                        **LISTING, **SORTED},
    "inventory.moves_export": {"location": "id", "item": "id", "type": "text", "from": "date", "to": "date",
                               "order": "text", **SORTED},
    "inventory.loans": {"overdue": "loose", **LISTING, **SORTED},
    "inventory.report": {"from": "date", "to": "date", "group_by": "text", "station": "loose"},
    "inventory.move_form": {"type": "loose", "from": "loose", "to": "loose"},
    "inventory.count": {"location": "loose"},
    "reports.index": REPORT_FILTERS,
    "reports.export_csv": {**REPORT_FILTERS, "group": "text"},
    "reports.orders": {**REPORT_FILTERS, "metric": "text", "level": "int", **LISTING, **SORTED},
    "reports.callback_queue": LISTING,
    "inbox.notifications": LISTING,
    "core.login": {"next": "loose"},
}

FORM: dict[str, dict[str, str]] = {
    "core.login": {"username": "text", "password": "text", "next": "loose"},
    "core.set_language": {"next": "loose"},
    "admin.user_edit": {"username": "text", "full_name": "text", "role": "text", "station": "id", "skills": "text",
                        "password": "text", "is_enabled": "loose"},
    "admin.station_edit": {"code": "text", "name": "text", "address": "text", "district": "loose",
                           "lat": "number", "lon": "number", "coverage": "geojson"},
    "admin.customer_edit": {"account_no": "text", "name": "text", "phone": "text", "address": "text",
                            "district": "loose", "lat": "number", "lon": "number", "segment": "text",
                            "services": "text"},
    "admin.customer_import": {"only_good": "loose"},
    "dispatch.new_order": {"category": "text", "description": "text", "channel": "text", "priority": "text",
                           "address": "text", "customer_id": "id", "name": "text", "phone": "text",
                           "lat": "number", "lon": "number"},
    "dispatch.order_transition": {"action": "text", "note": "text", "version": "int", "resolution_code": "text"},
    "dispatch.order_assign": {"technician_id": "id", "station": "text", "reason": "text", "version": "int"},
    "dispatch.order_location": {"lat": "number", "lon": "number", "version": "int"},
    "dispatch.import_orders": {},
    "dispatch_board.acknowledge": {"note": "loose", "next": "loose"},
    "dispatch_board.resolve_incident": {"note": "loose"},
    "dispatch_board.incident_settings": {"min_orders": "int", "radius_m": "int", "window_minutes": "int"},
    "dispatch_board.acknowledge_selected": {"alerts": "id", "only": "id", "note": "loose", "next": "loose"},
    "dispatch_board.sla_policy_new": {"kind": "text", "segment": "text", "restore_hours": "number",
                                      "warning_lead_hours": "number", "escalation_step_hours": "number",
                                      "wait_parts_pauses": "loose"},
    "dispatch_board.sla_policy_edit": {"restore_hours": "number", "warning_lead_hours": "number",
                                       "escalation_step_hours": "number", "wait_parts_pauses": "loose"},
    "dispatch.category_new": {"code": "text", "name": "text", "name_zh": "text", "kind": "text",
                              "service_line": "text", "skill": "text", "new_skill": "text", "weight": "number",
                              "service_minutes": "int", "is_active": "loose"},
    "dispatch.category_edit": {"name": "text", "name_zh": "text", "kind": "text", "service_line": "text",
                               "skill": "text", "new_skill": "text", "weight": "number", "service_minutes": "int",
                               "is_active": "loose"},
    "field.resolution_codes": {"code": "text", "name": "text", "name_zh": "text", "is_active": "loose"},
    "field.resolution_code_edit": {"name": "text", "name_zh": "text", "is_active": "loose"},
    "field.duty": {"on_duty": "loose"},
    "field.act": {"action": "text", "note": "text", "lat": "loose", "lon": "loose", "taken_at": "datetime"},
    "field.resolve": {"resolution_code": "text", "part_code": "text", "part_qty": "int", "loan_serial": "text",
                      "collected_serial": "text", "note": "text", "lat": "loose", "lon": "loose",
                      "taken_at": "datetime"},
    "inventory.set_reorder": {"reorder_point": "int", "reorder_qty": "int"},
    "inventory.move_form": {"type": "loose", "sku": "text", "from": "text", "to": "text", "qty": "int",
                            "serials": "text", "reason": "text", "faulty": "loose"},
    "inventory.count": {"location": "text", "count-CONN-F": "int", "reason": "text"},
    "inventory.count_import": {"reason": "text"},
    "inventory.item_save": {"sku": "text", "name": "text", "name_zh": "text", "category": "text", "unit": "loose",
                            "is_serialized": "loose", "unit_cost": "number", "reorder_point": "int",
                            "reorder_qty": "int", "van_reorder_point": "int"},
    "inventory.items_import": {},
    "inventory.loan_create": {"account_no": "text", "order": "id", "serial": "text"},
    "inventory.loan_return": {"to": "text"},
    "inbox.notifications": {"id": "id"},
    "reports.record_callback": ANSWERS,
    "reports.feedback": ANSWERS,
}

JSON: dict[str, dict[str, str]] = {
    "core_api.create_token": {"username": "text", "password": "text", "name": "text"},
    "core_api.revoke_current_token": {},
    "dispatch_api.create_order": {"customer_id": "id", "customer": "text", "lat": "number", "lon": "number",
                                  "kind": "text", "category": "text", "description": "text", "address": "text",
                                  "priority": "text", "channel": "text", "reported_at": "datetime"},
    "dispatch_api.order_assign": {"technician_id": "id", "station": "text", "reason": "text", "version": "int"},
    "dispatch_api.order_transition": {"action": "text", "note": "text", "lat": "number", "lon": "number",
                                      "version": "int", "resolution_code": "text", "parts": "text",
                                      "loan": "text", "collected": "text"},
    "dispatch_api.order_location": {"lat": "number", "lon": "number", "version": "int"},
    "reports_api.order_callback": {"reached": "text", "fixed": "text", "on_time": "text", "polite": "text",
                                   "satisfaction": "int", "comment": "text"},
    "inventory_api.move_create": {"type": "text", "sku": "text", "qty": "int", "serial": "text", "from": "text",
                                  "to": "text", "reason": "text", "order": "id", "customer": "id",
                                  "faulty": "loose"},
    "field.position": {"lat": "number", "lon": "number"},
    "field.sync_queue": {"items": "text"},
    "field_api.subscribe": {"endpoint": "text", "keys": "text"},
    "field_api.unsubscribe": {"endpoint": "text"},
    "admin.station_check_area": {"station_id": "id", "coverage": "geojson"},
}

# Nested JSON the views read deeper: each hostile value also goes in there.
NESTED: dict[str, Any] = {
    "dispatch_api.order_transition": lambda v: {"action": "resolve", "resolution_code": "FIXED",
                                                "parts": [{"sku": "CONN-F", "qty": v}]},
    # one item a time: the others of a batch are rightly applied
    "field.sync_queue": lambda v: {"items": [{"key": "k1", "order_id": v, "action": "accept", "at": v}]},
    "field.sync_queue#parts": lambda v: {"items": [{"key": "k3", "order_id": 1, "action": "resolve",
                                                    "resolution_code": "FIXED",
                                                    "parts": [{"code": "CONN-F", "qty": v}]}]},
    "dispatch_api.create_order": lambda v: {"category": "BB-SLOW", "description": "d",
                                            "customer": {"name": v, "phone": v, "address": v}},
}

UPLOADS = {  # endpoint: (file field, CSV header, a good row as a dict, the columns to spoil)
    "admin.customer_import": ("file", {"account_no": "8801234567", "name": "N", "phone": "13800000001",
                                       "lat": "22.505", "lon": "114.005"}, ("lat", "lon")),
    "dispatch.import_orders": ("file", {"account_no": "{account}", "category": "BB-SLOW", "description": "d",
                                        "lat": "22.505", "lon": "114.005",
                                        "reported_at": "{reported_at}"}, ("lat", "lon", "reported_at")),
    "inventory.count_import": ("file", {"location": "S01", "sku": "CONN-F", "qty": "3"}, ("qty",)),
    "inventory.items_import": ("file", {"sku": "NEW-1", "name": "N", "category": "connector", "unit_cost": "1",
                                        "reorder_point": "1", "reorder_qty": "1", "van_reorder_point": "1"},
                               ("unit_cost", "reorder_point", "reorder_qty", "van_reorder_point")),
    "field.resolve": ("photos", None, ()),
}
CSV_KIND = {"lat": "number", "lon": "number", "reported_at": "datetime", "qty": "int", "unit_cost": "number",
            "reorder_point": "int", "reorder_qty": "int", "van_reorder_point": "int"}

PATH_TEXT = {"serial": ["LN1", "%00", "%ED%A0%80", "x" * 5000, "%C2%B2"], "token": ["{token}", "%00", "x" * 5000,
             "%ED%A0%80" * 20], "name": ["%00", "..%2F..%2Fsecret_key", "x" * 5000], "code": ["%00", "x" * 5000,
             "zh_CN%00"], "filename": ["%00"]}
BAD_PATH_IDS = ["0", "2147483648", "9223372036854775808", "99999999999999999999", "1" * 5000, "%C2%B2",
                "%D9%A3"]

# Routes that write whatever (hostile but well-formed) they are sent: the tables they may change
# and the audit actions they may add. A value refused at the door (NUL, surrogate, too deep) writes nothing.
LEGIT_WRITES: dict[str, tuple[set[str], set[str]]] = {
    "core.login": ({"login_attempts"}, {"login.failed", "login.throttled"}),  # counted towards throttling
    "core_api.create_token": ({"login_attempts"}, {"login.failed", "login.throttled"}),
    "admin.customer_export": (set(), {"customer.export"}),  # exports are audited
    "dispatch.reveal_phone": (set(), {"customer.reveal_phone"}),  # so are reveals of a phone number
    "field.reveal": (set(), {"customer.reveal_phone"}),
    "reports.callback_link": ({"callbacks"}, {"callback.link"}),  # takes no input: issues a link
    "inbox.notifications": ({"notifications"}, set()),  # no valid id: marks all read
    "field.duty": ({"technician_duties"}, set()),  # any value but "1" is "off duty"
    "field.sync_queue": ({"idempotency_records"}, set()),  # a refused item's answer is kept for its replays
}
SKIP = {"core.logout", "static"}  # logging out would end the session the other routes need


@dataclass
class Case:
    endpoint: str
    method: str
    url: str
    role: str | None
    query: list[tuple[str, Any]] = field(default_factory=list)
    json_body: Any = None
    raw_json: str | None = None
    form: list[tuple[str, Any]] = field(default_factory=list)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    strict: bool = False  # a hostile value sits where it must be refused
    door: bool = False  # a value the door check refuses (NUL, surrogate, too deep)

    def __repr__(self) -> str:  # short: the values run to megabytes
        def cut(value: Any) -> str:
            text = repr(value)
            return text if len(text) < 300 else text[:300] + f"... ({len(text)} chars)"
        return (f"Case({self.method} {cut(self.url)} as {self.role}, query={cut(self.query)}, form={cut(self.form)}, "
                f"json={cut(self.json_body)}, raw={cut(self.raw_json)}, files={cut(self.files)}, "
                f"headers={cut(self.headers)}, strict={self.strict}, door={self.door})")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # Hypothesis' reports use this
        printer.text(repr(self))


# --------------------------------------------------------------------------- the world

@pytest.fixture
def world(app, make_station, make_user, make_customer):
    from core.auth import get_user
    from dispatch.orders import services as dispatch
    from dispatch.reports.services import callbacks
    from inventory import services as inventory
    from inventory.models import StockLevel

    s1 = make_station("S01", lon=114.0, lat=22.5)
    make_station("S02", lon=114.01, lat=22.5)
    users = {"admin": make_user("admin", username="admin1"), "dispatcher": make_user("dispatcher", username="disp1"),
             "supervisor": make_user("supervisor", username="sup1", station=s1),
             "technician": make_user("technician", username="tech1", station=s1,
                                     skills=["digital_tv", "cable_tv", "broadband"]),
             "stockkeeper": make_user("stockkeeper", username="keep1", station=s1)}
    customer = make_customer(lat=22.505, lon=114.005)
    with app.app_context():
        dispatch.ensure_reference_data()
        tech = get_user(users["technician"].id)
        dispatch.set_duty(tech, on_duty=True, shift="day")
        db.session.commit()
    stock_technician_van(app, make_user, users["technician"])
    with app.app_context():
        disp, tech = get_user(users["dispatcher"].id), get_user(users["technician"].id)
        inventory.ensure_locations()
        open_order = dispatch.create_order({"customer_id": customer.id, "category": "BB-SLOW", "description": "a"},
                                           disp)
        done = dispatch.create_order({"customer_id": customer.id, "category": "DTV-MOSAIC", "description": "b"},
                                     disp)
        for action in ("accept", "depart", "arrive"):
            dispatch.transition(done, action, tech)
        dispatch.transition(done, "resolve", tech, resolution_code="FIXED")
        token = callbacks.issue_link(done, disp)
        loan = inventory.lend_loaner(open_order.id, customer.id, "LN1", tech)
        from dispatch.orders.models import Category
        from field.models import ResolutionCode
        install = db.session.scalar(sa.select(Category).where(Category.code == "INST-DTV"))
        code = ResolutionCode(category_code=install.code, code="INSTALLED", name="Installed", name_zh="已安装")
        db.session.add(code)
        db.session.commit()
        ids = {"order_id": [open_order.id, done.id], "customer_id": [customer.id],
               "category_id": [install.id], "code_id": [code.id],
               "user_id": [users["admin"].id, users["technician"].id], "station_id": [s1.id],
               "level_id": [db.session.scalar(sa.select(StockLevel.id).limit(1))],
               "loan_id": [loan.id], "alert_id": [1], "incident_id": [1]}
    return SimpleNamespace(users=users, ids=ids, token=token, account=customer.account_no)


def _clients(app, world) -> dict[str | None, Any]:
    clients: dict[str | None, Any] = {None: app.test_client()}
    for role, user in world.users.items():
        c = app.test_client()
        resp = c.post("/login", data={"username": user.username, "password": PASSWORD})
        assert resp.status_code == 302, role
        clients[role] = c
    return clients


def _snapshot(app: Any, tables: list[sa.Table]) -> dict[str, list[str]]:
    with app.app_context(), db.engine.connect() as conn:
        return {t.name: sorted(repr(tuple(r)) for r in conn.execute(sa.select(t))) for t in tables}


def _tables(app: Any) -> list[sa.Table]:
    with app.app_context(), db.engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
    return [t for t in db.metadata.sorted_tables if t.name in names]


def _unexpected_writes(endpoint: str, before: dict[str, list[str]], after: dict[str, list[str]],
                       door: bool) -> list[str]:
    """The tables changed beyond what LEGIT_WRITES allows this route (nothing at all after a door refusal)."""
    tables, actions = (set(), set()) if door else LEGIT_WRITES.get(endpoint, (set(), set()))
    out = []
    for name in before:
        if before[name] == after.get(name) or name in tables:
            continue
        if name == "audit_events" and actions:
            kept, added = set(before[name]), [r for r in after[name] if r not in set(before[name])]
            if kept <= set(after[name]) and all(any(f"'{a}'" in r for a in actions) for r in added):
                continue
        out.append(name)
    return out


# --------------------------------------------------------------------------- the requests

def _operations(app) -> list[tuple[Any, str]]:
    """Every (rule, method); the routes that rightly write whatever they get go last, so the state they
    change (a technician off duty, a survey link replaced) cannot blunt the others."""
    ops = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.endpoint in LEGIT_WRITES, r.rule, r.endpoint)):
        if rule.endpoint in SKIP:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            ops.append((rule, method))
    return ops


def _roles(app, endpoint: str) -> list[str | None]:
    from core.access import ANY_USER, allowed_roles
    roles = allowed_roles(app, endpoint)
    if roles is None:
        return [None, "dispatcher", "technician"]
    return [r for r in ROLES if ANY_USER in roles or r in roles]


def _path(rule: Any, draw: Any, world: Any) -> str:
    url = rule.rule
    for name in rule.arguments:
        converter = rule._converters[name]
        if type(converter).__name__ in ("IdConverter", "IntegerConverter"):
            real = [str(i) for i in world.ids.get(name, [1]) if i]
            value = draw(st.sampled_from(real * 4 + BAD_PATH_IDS))  # mostly real: the view must run
            url = url.replace(f"<int:{name}>", value)
        else:
            options = [v.replace("{token}", world.token) for v in PATH_TEXT.get(name, ["x" * 5000, "%00"])]
            url = url.replace(f"<{name}>", draw(st.sampled_from(options))).replace(f"<path:{name}>", "%00")
    return url


def _csv(draw: Any, endpoint: str, world: Any) -> tuple[bytes, bool, bool]:
    """A CSV with one good row spoilt in one column: (bytes, strict, door)."""
    _field, good, columns = UPLOADS[endpoint]
    row = {k: v.replace("{account}", world.account).replace("{reported_at}", "2026-03-01T09:00:00+08:00")
           for k, v in good.items()}
    how = draw(st.sampled_from(["field", "nul", "nul-cell"]))
    if how == "field":
        column = draw(st.sampled_from(columns))
        value = draw(st.sampled_from(field_values(CSV_KIND[column], as_json=False)))
        row[column] = value.decode("latin-1") if isinstance(value, bytes) else value
    elif how == "nul-cell":
        row[list(row)[1]] = "a\x00b"
    text = ",".join(row) + "\n" + ",".join(f'"{v}"' for v in row.values()) + "\n"
    data = text.encode("utf-8", "surrogatepass")
    if how == "nul":
        data = data + b"\x00trailing"
    return data, how == "field", how != "field"


@st.composite
def cases(draw: Any, app: Any, world: Any, rule: Any, method: str) -> Case:
    endpoint = rule.endpoint
    role = draw(st.sampled_from(_roles(app, endpoint)))
    case = Case(endpoint, method, _path(rule, draw, world), role)
    if any(bad in case.url for bad in ("%00",)):
        case.door = True
    strict_slots: list[bool] = []

    def pick(fields: dict[str, str], as_json: bool, allow_door: bool) -> list[tuple[str, Any]]:
        if not fields:
            return []
        names = draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True))
        out = []
        for name in names:
            kind = fields[name]
            door = allow_door and draw(st.booleans()) and draw(st.booleans())
            if door:
                value = draw(st.sampled_from(DOOR_JSON if as_json else DOOR_TEXT))
                case.door = True
            else:
                value = draw(st.sampled_from(field_values(kind, as_json)))
                strict_slots.append(kind in STRICT)
            out.append((name, value))
        return out

    if method == "GET":
        case.query = pick(QUERY.get(endpoint) or LISTING, as_json=False, allow_door=True)
    elif endpoint in JSON:
        shape = draw(st.sampled_from(["fields", "fields", "nested", "deep", "scalar"]))
        if shape == "deep":
            case.raw_json, case.door = str(draw(st.sampled_from([DEEP_ARRAY, DEEP_OBJECT]))), True
        elif shape == "scalar":
            case.raw_json = draw(st.sampled_from(["1" * 5000, "1e400", "NaN", '"\\ud800"', "[]", '"x"']))
            case.door = case.raw_json == '"\\ud800"'
            strict_slots.append(True)
        elif shape == "nested" and endpoint in NESTED:
            value = draw(st.sampled_from(BAD_INT_JSON + BAD_DATE_JSON[:3] + DOOR_JSON[:2]))
            builders = [b for name, b in NESTED.items() if name.split("#")[0] == endpoint]
            case.json_body = draw(st.sampled_from(builders))(value)
            case.door = value in DOOR_JSON[:2]
            strict_slots.append(True)
        else:
            case.json_body = dict(pick(JSON[endpoint] or {"x": "loose"}, as_json=True, allow_door=True))
        if endpoint in ("dispatch_api.create_order", "dispatch_api.order_assign", "dispatch_api.order_transition",
                        "dispatch_api.order_location", "reports_api.order_callback", "inventory_api.move_create"):
            case.headers["Idempotency-Key"] = draw(st.sampled_from(["k-1", "x" * 5000]))
    else:
        case.form = pick(FORM.get(endpoint, {"x": "loose"}), as_json=False, allow_door=True)
        if endpoint in UPLOADS:
            # the test client spools a multipart body over 500 kB to a file it never closes
            case.form = [(k, "x" * 20_000 if len(v) > 20_000 else v) for k, v in case.form]
            name, header, _cols = UPLOADS[endpoint]
            if header is None:  # photos: binary, NUL bytes and all
                case.files = [(name, "p.png", b"\x89PNG\r\n\x1a\n\x00" + b"\xff" * 100)]
            else:
                data, strict, door = _csv(draw, endpoint, world)
                case.files = [(name, "data.csv", data)]
                strict_slots.append(strict)
                case.door = case.door or door
    case.strict = any(strict_slots)
    return case


def _send(clients: dict[str | None, Any], case: Case) -> Any:
    client = clients[case.role]
    query = urlencode([(k, v) for k, v in case.query], doseq=False)
    url = case.url + ("?" + query if query else "")
    kwargs: dict[str, Any] = {"headers": case.headers}
    if case.raw_json is not None:
        kwargs.update(data=case.raw_json.encode("utf-8", "surrogatepass"), content_type="application/json")
    elif case.json_body is not None:
        kwargs.update(data=dumps(case.json_body).encode(), content_type="application/json")
    elif case.files:
        fields: dict[str, Any] = {}
        for k, v in case.form:
            fields.setdefault(k, []).append(v.decode("latin-1") if isinstance(v, bytes) else v)
        for name, filename, data in case.files:
            fields.setdefault(name, []).append((io.BytesIO(data), filename))
        kwargs.update(data=fields, content_type="multipart/form-data")
    elif case.method != "GET":
        kwargs.update(data=urlencode(case.form), content_type="application/x-www-form-urlencoded")
    return client.open(url, method=case.method, **kwargs)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
@pytest.mark.slow
def test_no_hostile_input_makes_a_server_error_or_a_write(app, world, caplog):
    clients = _clients(app, world)
    operations = _operations(app)
    assert len(operations) > 90  # every route of the map, every method
    covered = {rule.endpoint for rule, _m in operations}
    described = set(QUERY) | set(FORM) | set(JSON)
    assert not described - covered, f"the tables name routes that are gone: {sorted(described - covered)}"
    failures: list[str] = []
    tables = _tables(app)
    for rule, method in operations:
        @given(case=cases(app, world, rule, method))
        @settings(max_examples=10, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: Case) -> None:
            checked = case.door or case.strict  # only these must leave every table as it was
            before = _snapshot(app, tables) if checked else {}
            resp = _send(clients, case)
            after = _snapshot(app, tables) if checked else {}
            where = f"{case.method} {case.url[:120]} as {case.role}"
            detail = repr(case)
            if resp.status_code >= 500 and not (case.endpoint == "ops.readyz" and resp.status_code == 503):
                errors = [repr(r.exc_info[1])[:500] for r in caplog.records if r.exc_info]
                caplog.clear()
                raise AssertionError(f"{where}: {resp.status_code} {detail[:600]} {errors[-1:]}")
            if case.door:
                assert resp.status_code in (400, 404, 413, 414), \
                    f"{where}: not refused at the door {resp.status_code} {detail[:600]}"
            if checked:
                wrote = _unexpected_writes(case.endpoint, before, after, case.door)
                assert not wrote, f"{where}: wrote {wrote} ({resp.status_code}) {detail[:400]}"
        try:
            run()
        except Exception as err:  # every route's failure, reported together (each of a group)
            for each in getattr(err, "exceptions", [err]):
                failures.append(f"{method} {rule.rule}: {str(each)[:700]}")
    assert not failures, f"{len(failures)} routes failed:\n\n" + "\n\n".join(failures)
