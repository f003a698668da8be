"""Scorecards: the operator's KPIs by period, station, technician, category and service line.

Every figure is an aggregate SQL query (GROUP BY the dimension), the same on SQLite and
PostgreSQL, and every figure has a matching `orders_behind()` list built from the same clauses.

Definitions (the period is [from 00:00, to + 1 day 00:00) in the operator's time zone):
- orders: orders *reported* in the period. backlog, repeats and breaches are about these.
- resolved: orders whose (last) resolution falls in the period (a reopened order counts when
  it is resolved again). on-time, MTTR, first-time fix and work points are about these.
- on time: resolved_at <= deadline_at (exactly at the deadline is on time). deadline_at already
  moved on by every paused stretch (waiting on the customer), so paused clocks do not count.
- MTTR hours: mean of (resolved_at - reported_at - paused time).
- first-time fix: resolved, never reopened, not itself a repeat, and no fault or complaint visit
  of the same customer reported within 7 days after the resolution.
- repeat: a reopened order, or a fault/complaint visit reported within 7 days after another
  order of the same customer was resolved. repeat_rate = repeats / orders.
- backlog: orders reported in the period that are still open now, by age now (hours).
- breaches_by_level: orders reported in the period by the highest escalation level they
  reached (the escalated events' `level`, or the order's escalation_level if higher).
- callbacks: surveys answered in the period (satisfaction, each question's yes-rate);
  unreachable: callbacks given up in the period.
- work points: sum of the resolved orders' difficulty weights (category weights).
- parts: spare parts consumed in the period (inventory's consumption report), station and
  technician tables only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased

from core.access import in_scope, scope_clause, station_scope
from core.auth import User
from core.db import add_seconds, now, seconds_between
from core.errors import Forbidden, Invalid, NotFound
from core.extensions import db
from core.parse import MAX_ID, MAX_YEAR, MIN_YEAR, is_digits, parse_date, parse_int
from core.stations import Station, station_by_code
from dispatch.reports.models import QUESTIONS, Callback
from dispatch.orders.models import SERVICE_LINES, Category, OrderEvent, RepairOrder
from dispatch.orders.services.reference import category_by_code

GROUPS = ("station", "technician", "category", "service_line")
GROUP_LABELS = {"station": _l("Station"), "technician": _l("Technician"), "category": _l("Category"),
                "service_line": _l("Service line")}
SERVICE_LINE_LABELS = {"cable_tv": _l("Cable TV"), "digital_tv": _l("Digital TV"), "broadband": _l("Broadband")}
BUCKETS = (("lt24", 0, 24), ("24to48", 24, 48), ("48to72", 48, 72), ("gt72", 72, None))
BUCKET_LABELS = {"lt24": _l("< 24 h"), "24to48": _l("24–48 h"), "48to72": _l("48–72 h"), "gt72": _l("> 72 h")}
REPEAT_WINDOW_SECONDS = 7 * 24 * 3600
REPEAT_KINDS = ("fault", "complaint_visit")
MAX_DAYS = 1100
NONE = -1  # the "unassigned" station or technician filter


# --------------------------------------------------------------------------- portable date arithmetic
# (seconds_between and add_seconds live in core.db)


def _plus(column: Any, seconds: int) -> Any:
    return add_seconds(column, sa.literal_column(str(int(seconds))))


# --------------------------------------------------------------------------- period and filters

@dataclass(frozen=True)
class Period:
    first_day: date
    last_day: date
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive

    def args(self) -> dict[str, str]:
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()}


def _day(raw: Any, name: str, errors: dict[str, str]) -> date | None:
    try:
        return parse_date(raw, name)  # 2000–2100: a day of 9999-12-31 has no next day to end the period
    except Invalid:
        errors[name] = str(_l("a date YYYY-MM-DD from %(lo)s to %(hi)s", lo=MIN_YEAR, hi=MAX_YEAR))
        return None


def parse_period(raw_from: Any = None, raw_to: Any = None) -> Period:
    """From and to are days in the operator's zone, both included; default the last 30 days.

    Invalid names every bad field at once."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    today = now().astimezone(zone).date()
    errors: dict[str, str] = {}
    last, first = _day(raw_to, "to", errors), _day(raw_from, "from", errors)
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    last = last or today
    first = first or last - timedelta(days=29)
    if first > last:
        raise Invalid(str(_l("Please correct the marked fields.")),
                      {"from": str(_l("must not be after the end date (%(day)s)", day=last.isoformat()))})
    if (last - first).days > MAX_DAYS:
        raise Invalid(str(_l("Please correct the marked fields.")),
                      {"from": str(_l("at most %(n)d days", n=MAX_DAYS))})
    start = datetime.combine(first, time(), zone).astimezone(timezone.utc)
    end = datetime.combine(last + timedelta(days=1), time(), zone).astimezone(timezone.utc)
    return Period(first, last, start, end)


@dataclass
class Filters:
    station_id: int | None = None
    technician_id: int | None = None
    category_id: int | None = None
    service_line: str | None = None
    labels: dict[str, str] = field(default_factory=dict)  # the filter values as given (codes), for links

    def clauses(self) -> list[Any]:
        out = []
        for col, value in ((RepairOrder.station_id, self.station_id), (RepairOrder.technician_id, self.technician_id),
                           (RepairOrder.category_id, self.category_id)):
            if value == NONE:
                out.append(col.is_(None))
            elif value is not None:
                out.append(col == value)
        if self.service_line:
            out.append(RepairOrder.category_id.in_(sa.select(Category.id)
                                                   .where(Category.service_line == self.service_line)))
        return out


def may_see_reports(actor: User) -> bool:
    return actor.role in ("admin", "dispatcher", "supervisor", "technician")


def resolve_filters(actor: User, *, station: Any = None, technician: Any = None, category: Any = None,
                    service_line: Any = None, all_errors: bool = False) -> Filters:
    """The filters as ids, narrowed to what the actor may see: supervisors their station, technicians
    themselves. Asking for another station's or technician's figures is Forbidden.

    An unknown station, technician or category is NotFound, a bad value Invalid, at the first one;
    with `all_errors` (the pages' filter form) every unknown or bad field is named in one Invalid.
    """
    if not may_see_reports(actor):
        raise Forbidden(str(_l("Your role may not see scorecards.")))
    f = Filters()
    errors: dict[str, str] = {}

    def refuse(name: str, err: Any) -> None:
        if not all_errors:
            raise err
        errors[name] = err.message if isinstance(err, NotFound) else err.fields.get(name, err.message)

    if station not in (None, ""):
        f.labels["station"] = station if isinstance(station, str) else str(station)
        if station == "none":
            f.station_id = NONE
        else:
            st = station_by_code(station) if isinstance(station, str) and len(station) <= 20 else None
            if st is None:
                refuse("station", NotFound(str(_l("No such station.")), {"station": "unknown"}))
            else:
                f.station_id = st.id
    if technician not in (None, ""):
        f.labels["technician"] = technician if isinstance(technician, str) else str(technician)
        if technician == "none":
            f.technician_id = NONE
        else:
            tech = None
            if isinstance(technician, str) and len(technician) <= 80:
                if not is_digits(technician):
                    tech = db.session.scalar(sa.select(User).where(User.username == technician.strip().lower()))
                elif len(technician.strip()) <= 10 and int(technician) <= MAX_ID:
                    tech = db.session.get(User, int(technician))
            if tech is None or tech.role != "technician":
                refuse("technician", NotFound(str(_l("No such technician.")), {"technician": "unknown"}))
            else:
                f.technician_id = tech.id
                if actor.role != "technician" and not in_scope(actor, tech.station_id):
                    raise Forbidden(str(_l("You may see only your station's scorecards.")))
    if category not in (None, ""):
        f.labels["category"] = category if isinstance(category, str) else str(category)
        try:
            f.category_id = category_by_code(category).id
        except NotFound as err:
            refuse("category", err)
    if service_line not in (None, ""):
        if service_line not in SERVICE_LINES:
            refuse("service_line", Invalid(str(_l("Please correct the marked fields.")),
                   {"service_line": str(_l("one of: %(values)s", values=", ".join(SERVICE_LINES)))}))
        else:
            f.service_line = service_line
            f.labels["service_line"] = service_line
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    if actor.role == "technician":
        if f.technician_id not in (None, actor.id):
            raise Forbidden(str(_l("Technicians see only their own scorecard.")))
        f.technician_id = actor.id
        f.labels["technician"] = actor.username
    elif (scope := station_scope(actor)) is not None:
        if f.station_id not in (None, scope):
            raise Forbidden(str(_l("You may see only your station's scorecards.")))
        f.station_id = scope
        f.labels["station"] = actor.station.code if actor.station else ""
    return f


def filter_choices(actor: User, locale: str | None) -> dict[str, Any]:
    """What the filter form offers to pick, within the actor's station scope (core.access): the
    stations and technicians by the values the query string takes (code, username), the categories."""
    stations = db.session.scalars(sa.select(Station).where(scope_clause(actor, Station.id))
                                  .order_by(Station.code))
    techs = db.session.scalars(sa.select(User).where(User.role == "technician",
                                                     scope_clause(actor, User.station_id))
                               .order_by(User.full_name, User.username))
    cats = db.session.scalars(sa.select(Category).where(Category.is_active.is_(True))
                              .order_by(Category.kind, Category.code))
    return {"every_station": station_scope(actor) is None,  # else "all" and "none" are not theirs to ask
            "station": [(st.code, f"{st.code} · {st.display_name}") for st in stations],
            "technician": [(t.username, f"{t.full_name} ({t.username})" if t.full_name else t.username)
                           for t in techs],
            "category": [(c.code, f"{c.label(locale)} ({c.code})") for c in cats]}


def read_query(actor: User, args: Any) -> tuple[Period, Filters]:
    """The scorecard pages' filter form (a query string): the period and the filters, with every bad
    or unknown field named in one Invalid (`fields` {name: message}); Forbidden stays its own refusal."""
    errors: dict[str, str] = {}
    period = None
    try:
        period = parse_period(args.get("from"), args.get("to"))
    except Invalid as err:  # named with the others in the one refusal below (the request refused either way)
        errors.update(err.fields)
    try:
        filters = resolve_filters(actor, **{name: args.get(name) for name in GROUPS}, all_errors=True)
    except Invalid as err:
        errors.update(err.fields)
    if errors or period is None:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    return period, filters


# --------------------------------------------------------------------------- the clauses (shared by counts and lists)

def _reported_in(p: Period) -> Any:
    return sa.and_(RepairOrder.reported_at >= p.start, RepairOrder.reported_at < p.end)


def _resolved_in(p: Period) -> Any:
    return sa.and_(RepairOrder.resolved_at >= p.start, RepairOrder.resolved_at < p.end)


def _on_time() -> Any:
    return RepairOrder.resolved_at <= RepairOrder.deadline_at


def _first_time_fix(p: Period) -> Any:
    """For orders resolved in the period. The bounds on `later` follow from that (later > resolved >= start,
    later <= resolved + 7 d < end + 7 d) and let the database read only that stretch of orders."""
    reopened = sa.exists().where(OrderEvent.order_id == RepairOrder.id, OrderEvent.type == "reopened")
    later = aliased(RepairOrder)
    repeat_after = sa.exists().where(
        later.customer_id == RepairOrder.customer_id, later.id != RepairOrder.id, later.kind.in_(REPEAT_KINDS),
        later.reported_at > p.start, later.reported_at < p.end + timedelta(seconds=REPEAT_WINDOW_SECONDS),
        later.reported_at > RepairOrder.resolved_at,
        later.reported_at <= _plus(RepairOrder.resolved_at, REPEAT_WINDOW_SECONDS))
    return sa.and_(~reopened, RepairOrder.is_repeat.is_(False), ~repeat_after)


def _follows_a_resolution(p: Period) -> Any:
    """A fault or complaint visit reported (in the period) within 7 days after another order of the customer
    was resolved. The bounds on `earlier` follow from the period, as in _first_time_fix()."""
    earlier = aliased(RepairOrder)
    follows = sa.exists().where(
        earlier.customer_id == RepairOrder.customer_id, earlier.id != RepairOrder.id,
        earlier.resolved_at >= p.start - timedelta(seconds=REPEAT_WINDOW_SECONDS), earlier.resolved_at < p.end,
        earlier.reported_at < RepairOrder.reported_at, earlier.resolved_at < RepairOrder.reported_at,
        RepairOrder.reported_at <= _plus(earlier.resolved_at, REPEAT_WINDOW_SECONDS))
    return sa.and_(RepairOrder.kind.in_(REPEAT_KINDS), follows)


def _repeat(p: Period) -> Any:
    return sa.or_(RepairOrder.is_repeat.is_(True), _follows_a_resolution(p))


def _is_open() -> Any:
    return RepairOrder.is_open


def _bucket(name: str, at: datetime) -> Any:
    lo, hi = next((lo, hi) for n, lo, hi in BUCKETS if n == name)
    clause = RepairOrder.reported_at <= at - timedelta(hours=lo)
    if hi is not None:
        clause = sa.and_(clause, RepairOrder.reported_at > at - timedelta(hours=hi))
    return clause


def _levels(p: Period, f: Filters, group: str | None = None) -> Any:
    """A subquery (id, k, level) of the orders reported in the period with the highest escalation level
    each reached: the escalated events' `level` (an order's events all happen after it was reported, so
    only events since the period's start are read), or the order's own escalation_level if higher."""
    esc = (sa.select(OrderEvent.order_id.label("order_id"),
                     sa.func.max(OrderEvent.data["level"].as_integer()).label("lvl"))
           .where(OrderEvent.type == "escalated", OrderEvent.at >= p.start)
           .group_by(OrderEvent.order_id).subquery("esc"))
    ev = sa.func.coalesce(esc.c.lvl, 0)
    level = sa.case((ev > RepairOrder.escalation_level, ev), else_=RepairOrder.escalation_level)
    dim = DIMENSIONS[group] if group else sa.literal("all")
    stmt = (sa.select(RepairOrder.id.label("id"), dim.label("k"), level.label("level")).select_from(RepairOrder)
            .outerjoin(esc, esc.c.order_id == RepairOrder.id))
    if group == "service_line":
        stmt = stmt.join(Category, Category.id == RepairOrder.category_id)
    return stmt.where(_reported_in(p), *f.clauses()).subquery("levels")


def _answered_in(p: Period) -> Any:
    return sa.and_(Callback.status == "answered", Callback.answered_at >= p.start, Callback.answered_at < p.end)


def _unreachable_in(p: Period) -> Any:
    return sa.and_(Callback.status == "unreachable", Callback.last_attempt_at >= p.start,
                   Callback.last_attempt_at < p.end)


def _count_if(clause: Any) -> Any:
    return sa.func.sum(sa.case((clause, 1), else_=0))


# --------------------------------------------------------------------------- scorecards

DIMENSIONS = {"station": RepairOrder.station_id, "technician": RepairOrder.technician_id,
              "category": RepairOrder.category_id, "service_line": Category.service_line}


def _grouped(cols: list[Any], group: str | None, f: Filters, *where: Any, select_from: Any = RepairOrder,
             join_order: bool = False) -> Any:
    dim = [DIMENSIONS[group].label("k")] if group else []
    stmt = sa.select(*dim, *cols).select_from(select_from)
    if join_order and (group or f.clauses()):  # callbacks need their order only to filter or group by it
        stmt = stmt.join(RepairOrder, RepairOrder.id == Callback.order_id)
    if group == "service_line":
        stmt = stmt.join(Category, Category.id == RepairOrder.category_id)
    stmt = stmt.where(*where, *f.clauses())
    return stmt.group_by(DIMENSIONS[group]) if group else stmt


def _rows(stmt: Any, group: str | None) -> dict[Any, Any]:
    out = {}
    for row in db.session.execute(stmt):
        data = row._asdict()
        out[data.pop("k") if group else "all"] = data
    return out


def _rate(n: Any, d: Any) -> float | None:
    return round(float(n or 0) / d, 4) if d else None


def _empty_card() -> dict[str, Any]:
    return {"orders": 0, "resolved": 0, "on_time": 0, "on_time_rate": None, "mttr_hours": None,
            "first_time_fix": 0, "first_time_fix_rate": None, "repeats": 0, "repeat_rate": None,
            "backlog": {name: 0 for name, _lo, _hi in BUCKETS}, "backlog_total": 0, "breaches_by_level": {},
            "breaches": 0, "callbacks": 0, "unreachable": 0, "unhappy": 0, "satisfaction_avg": None,
            "yes_rates": {q: None for q in QUESTIONS}, "work_points": 0.0}


def _cards(p: Period, f: Filters, group: str | None) -> dict[Any, dict[str, Any]]:
    at = now()
    # The EXISTS tests (repeats, first-time fix) are counted in queries of their own, in the WHERE
    # clause, where PostgreSQL turns them into hash (anti-)joins instead of a subplan per order.
    reported = _rows(_grouped([
        sa.func.count().label("orders"),
        _count_if(RepairOrder.is_repeat.is_(True)).label("reopened"),
        *[_count_if(sa.and_(_is_open(), _bucket(name, at))).label(f"b_{name}") for name, _lo, _hi in BUCKETS],
    ], group, f, _reported_in(p)), group)
    follows = _rows(_grouped([sa.func.count().label("n")], group, f, _reported_in(p),
                             RepairOrder.is_repeat.is_(False), _follows_a_resolution(p)), group)
    restore = seconds_between(RepairOrder.reported_at, RepairOrder.resolved_at) - RepairOrder.paused_seconds
    resolved = _rows(_grouped([
        sa.func.count().label("resolved"),
        _count_if(_on_time()).label("on_time"),
        sa.func.sum(restore).label("restore_seconds"),
        sa.func.sum(RepairOrder.weight).label("work_points"),
    ], group, f, _resolved_in(p)), group)
    ftf = _rows(_grouped([sa.func.count().label("n")], group, f, _resolved_in(p), _first_time_fix(p)), group)
    # level per order in a subquery, then GROUP BY plain columns (PostgreSQL cannot match a
    # grouped expression that carries bind parameters)
    levels = _levels(p, f, group)
    breaches: dict[Any, dict[str, int]] = {}
    for k, lvl, n in db.session.execute(sa.select(levels.c.k, levels.c.level, sa.func.count())
                                        .where(levels.c.level > 0).group_by(levels.c.k, levels.c.level)):
        breaches.setdefault(k, {})[str(lvl)] = n
    # answered and given-up callbacks separately: each is one index range (status, time)
    callbacks = _rows(_grouped([
        sa.func.count().label("callbacks"),
        _count_if(Callback.is_unhappy.is_(True)).label("unhappy"),
        sa.func.avg(Callback.satisfaction).label("satisfaction_avg"),
        *[_count_if(getattr(Callback, q).is_(True)).label(f"yes_{q}") for q in QUESTIONS],
    ], group, f, _answered_in(p), select_from=Callback, join_order=True), group)
    unreachable = _rows(_grouped([sa.func.count().label("n")], group, f, _unreachable_in(p),
                                 select_from=Callback, join_order=True), group)

    cards: dict[Any, dict[str, Any]] = {}
    for key in (set(reported) | set(resolved) | set(breaches) | set(callbacks) | set(unreachable)
                | ({"all"} if not group else set())):
        card = _empty_card()
        r = reported.get(key)
        if r and r["orders"]:
            card["orders"] = r["orders"]
            card["repeats"] = int(r["reopened"] or 0) + (follows.get(key) or {}).get("n", 0)
            card["repeat_rate"] = _rate(card["repeats"], card["orders"])
            card["backlog"] = {name: int(r[f"b_{name}"] or 0) for name, _lo, _hi in BUCKETS}
            card["backlog_total"] = sum(card["backlog"].values())
        s = resolved.get(key)
        if s and s["resolved"]:
            card["resolved"], card["on_time"] = s["resolved"], int(s["on_time"] or 0)
            card["first_time_fix"] = (ftf.get(key) or {}).get("n", 0)
            card["on_time_rate"] = _rate(card["on_time"], card["resolved"])
            card["first_time_fix_rate"] = _rate(card["first_time_fix"], card["resolved"])
            card["mttr_hours"] = round(float(s["restore_seconds"] or 0) / s["resolved"] / 3600, 2)
            card["work_points"] = round(float(s["work_points"] or 0), 2)
        card["breaches_by_level"] = dict(sorted(breaches.get(key, {}).items()))
        card["breaches"] = sum(card["breaches_by_level"].values())
        c = callbacks.get(key)
        if c and c["callbacks"]:
            n = c["callbacks"]
            card["callbacks"], card["unhappy"] = n, int(c["unhappy"] or 0)
            card["satisfaction_avg"] = round(float(c["satisfaction_avg"]), 2)
            card["yes_rates"] = {q: _rate(c[f"yes_{q}"], n) for q in QUESTIONS}
        card["unreachable"] = (unreachable.get(key) or {}).get("n", 0)
        cards[key] = card
    return cards


def _labels(group: str, keys: list[Any], locale: str | None) -> dict[Any, tuple[str, str]]:
    """(label, filter value) per key."""
    ids = [k for k in keys if k is not None]
    if group == "station":
        found = {i: (f"{c} {n}", c) for i, c, n in db.session.execute(
            sa.select(Station.id, Station.code, Station.name).where(Station.id.in_(ids)))}
    elif group == "technician":
        found = {i: (fn or u, u) for i, u, fn in db.session.execute(
            sa.select(User.id, User.username, User.full_name).where(User.id.in_(ids)))}
    elif group == "category":
        found = {c.id: (c.label(locale), c.code) for c in db.session.scalars(
            sa.select(Category).where(Category.id.in_(ids)))}
    else:
        found = {k: (str(SERVICE_LINE_LABELS.get(k, k)), k) for k in ids}
    found[None] = (str(_l("(none)")), "none")
    return found


def _parts(p: Period, f: Filters, group: str | None) -> dict[str, int] | None:
    """Parts consumed per station code / technician username (or "all"), from inventory's report."""
    if group not in (None, "station", "technician") or f.category_id or f.service_line:
        return None
    try:
        from inventory import services as inventory
    except ImportError:  # inventory not installed: the column is left out
        return None
    report = getattr(inventory, "consumption_report", None)
    if report is None:
        return None
    rows = report(since=p.start, until=p.end, station_id=f.station_id if f.station_id != NONE else None,
                  technician_id=f.technician_id if f.technician_id != NONE else None,
                  group_by=group or "item")
    key = {"station": "code", "technician": "username"}.get(group or "")
    out: dict[str, int] = {}
    for row in rows:
        name = row.get(key) if key else "all"
        out[name] = out.get(name, 0) + int(row["qty"])
    return out


def scorecard(actor: User, period: Period, filters: Filters, group: str | None = None,
              locale: str | None = None) -> list[dict[str, Any]]:
    """One card per value of the group (or one for everything), sorted by label.

    Each card: key (the filter value to drill down with), label, and the figures in _empty_card().
    """
    if group is not None and group not in GROUPS:
        raise Invalid(str(_l("Please correct the marked fields.")),
                      {"group": str(_l("one of: %(values)s", values=", ".join(GROUPS)))})
    cards = _cards(period, filters, group)
    parts = _parts(period, filters, group)
    out = []
    labels = _labels(group, list(cards), locale) if group else {}
    for key, card in cards.items():
        label, value = labels.get(key, (str(key), str(key))) if group else (str(_l("All")), "")
        card.update(key=value, label=label)
        if parts is not None:
            card["parts"] = parts.get(value if group else "all", 0)
        out.append(card)
    return sorted(out, key=lambda c: (c["key"] == "none", c["label"]))


def kpis(actor: User, period: Period, filters: Filters, locale: str | None = None) -> dict[str, Any]:
    """The API's figures for the filter, plus work points per technician."""
    total = scorecard(actor, period, filters, None, locale)[0]
    by_tech = scorecard(actor, period, filters, "technician", locale)
    return {**total, "from": period.first_day.isoformat(), "to": period.last_day.isoformat(),
            "station": filters.labels.get("station"), "technician": filters.labels.get("technician"),
            "by_technician": [{"technician": c["key"], "name": c["label"], "resolved": c["resolved"],
                               "work_points": c["work_points"], "on_time_rate": c["on_time_rate"],
                               "first_time_fix_rate": c["first_time_fix_rate"]} for c in by_tech]}


# --------------------------------------------------------------------------- the orders behind a number

METRICS = ("orders", "resolved", "on_time", "late", "ftf", "not_ftf", "repeat", "backlog",
           *[f"backlog_{name}" for name, _lo, _hi in BUCKETS], "breach", "callbacks", "unhappy", "unreachable")
METRIC_LABELS = {
    "orders": _l("orders reported"), "resolved": _l("orders resolved"), "on_time": _l("resolved on time"),
    "late": _l("resolved late"), "ftf": _l("first-time fixes"), "not_ftf": _l("not fixed the first time"),
    "repeat": _l("repeats"), "backlog": _l("open backlog"), "breach": _l("deadline breaches"),
    "callbacks": _l("callbacks answered"), "unhappy": _l("unhappy callbacks"), "unreachable": _l("unreachable"),
    **{f"backlog_{name}": _l("open backlog") for name, _lo, _hi in BUCKETS},
}


def metric_clause(metric: str, p: Period, f: Filters, level: Any = None) -> Any:
    if metric not in METRICS:
        raise Invalid(str(_l("Please correct the marked fields.")), {"metric": str(_l("unknown"))})
    if metric == "orders":
        return _reported_in(p)
    if metric == "resolved":
        return _resolved_in(p)
    if metric == "on_time":
        return sa.and_(_resolved_in(p), _on_time())
    if metric == "late":
        return sa.and_(_resolved_in(p), ~_on_time())
    if metric == "ftf":
        return sa.and_(_resolved_in(p), _first_time_fix(p))
    if metric == "not_ftf":
        return sa.and_(_resolved_in(p), ~_first_time_fix(p))
    if metric == "repeat":
        return sa.and_(_reported_in(p), _repeat(p))
    if metric == "backlog":
        return sa.and_(_reported_in(p), _is_open())
    if metric.startswith("backlog_"):
        return sa.and_(_reported_in(p), _is_open(), _bucket(metric.removeprefix("backlog_"), now()))
    if metric == "breach":
        levels = _levels(p, f)
        if level in (None, ""):
            return RepairOrder.id.in_(sa.select(levels.c.id).where(levels.c.level > 0))
        try:
            wanted = parse_int(level, "level", lo=0, hi=99)
        except Invalid:
            raise Invalid(str(_l("Please correct the marked fields.")), {"level": str(_l("a whole number"))}) from None
        return RepairOrder.id.in_(sa.select(levels.c.id).where(levels.c.level == wanted))
    clause = {"callbacks": _answered_in(p), "unhappy": sa.and_(_answered_in(p), Callback.is_unhappy.is_(True)),
              "unreachable": _unreachable_in(p)}[metric]
    return RepairOrder.id.in_(sa.select(Callback.order_id).where(clause))


def orders_behind(metric: str, period: Period, filters: Filters, level: Any = None) -> Any:
    """A select of the orders a scorecard figure counts (same clauses as the figure), newest first."""
    return (sa.select(RepairOrder).where(metric_clause(metric, period, filters, level), *filters.clauses())
            .order_by(RepairOrder.reported_at.desc(), RepairOrder.id.desc()))


# --------------------------------------------------------------------------- CSV

CSV_COLUMNS = ("key", "label", "orders", "resolved", "on_time_rate", "mttr_hours", "first_time_fix_rate",
               "repeat_rate", *[f"backlog_{name}" for name, _lo, _hi in BUCKETS], "breaches", "callbacks",
               "unreachable", "satisfaction_avg", *[f"yes_{q}" for q in QUESTIONS], "work_points", "parts")


def csv_rows(cards: list[dict[str, Any]]) -> list[list[Any]]:
    rows: list[list[Any]] = [list(CSV_COLUMNS)]
    for c in cards:
        flat = {**c, **{f"backlog_{k}": v for k, v in c["backlog"].items()},
                **{f"yes_{k}": v for k, v in c["yes_rates"].items()}}
        rows.append(["" if flat.get(col) is None else flat.get(col) for col in CSV_COLUMNS])
    return rows
