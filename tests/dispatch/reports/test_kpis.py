"""Every scorecard figure against values worked out by hand on one crafted week.

The week (UTC; the operator's zone is UTC+8, so the period 2026-03-02..03-08 local is
[03-01 16:00, 03-08 16:00) UTC). Weights: DTV-MOSAIC 1.0, BB-SLOW 1.6. Deadlines: 24 h (faults),
72 h (installations).

  F t1 c1  reported 03-01 10:00 (before the period), resolved 03-02 08:00 (deadline 10:00): on time, 22 h
           callback 03-02 09:00: fixed, no appointment, on time, guided, 3
  A t1 c1  reported 03-02 00:00, resolved 03-03 00:00 EXACTLY at the deadline: on time, 24 h
           callback 03-03 02:00: fixed, appointment, on time, not guided, 5
  B t1 c2  reported 03-02 02:00, waits on the customer 04:00–06:00 (clock paused 2 h: deadline 03-03 04:00),
           resolved 03-03 03:00: on time, 25 h - 2 h = 23 h; three unreachable callbacks → closed
  C t2 c3  reported 03-02 03:00, escalated to level 1 (03:30) and 2 (04:00) on 03-03, resolved 03-03 05:00,
           unhappy callback 03-03 06:00 (not fixed, appointment no, late, not guided, 2) → reopened
           (new deadline 03-04 06:00), resolved again 03-04 05:00: on time, 50 h; not a first-time fix;
           callback 03-04 06:00: fixed, appointment, on time, guided, 4
  D t3 c4  BB-SLOW, reported 03-05 00:00, resolved 03-06 02:00: late, 26 h; not a first-time fix (E follows)
  E t3 c4  reported 03-07 00:00 (a repeat of D), still assigned, escalated to level 1 on 03-08 01:00
  G t1 c1  installation reported 03-08 15:00 (23:00 local, inside), still open
  H t2 c2  installation reported 03-08 17:00 (03-09 01:00 local, outside the period)
  now      03-09 00:00: E is exactly 48 h old (bucket 48–72 h), G 9 h (< 24 h)
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from core.auth import get_user
from core.errors import Forbidden, Invalid, NotFound
from core.extensions import db



def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def week(history, city, clock):
    h = history
    ids = {}
    ids["F"] = h.order(utc(2026, 3, 1, 10), city.t1, city.c1)
    ids["A"] = h.order(utc(2026, 3, 2, 0), city.t1, city.c1)
    ids["B"] = h.order(utc(2026, 3, 2, 2), city.t1, city.c2)
    ids["C"] = h.order(utc(2026, 3, 2, 3), city.t2, city.c3)
    for step in ("accept", "depart", "arrive", "wait_customer"):
        h.act(ids["B"], utc(2026, 3, 2, 4), step)
    h.act(ids["B"], utc(2026, 3, 2, 6), "resume")
    h.resolve(ids["F"], utc(2026, 3, 2, 8))
    h.callback(ids["F"], utc(2026, 3, 2, 9), reached=True, fixed=True, appointment_made=False, on_time=True,
               guided=True, satisfaction=3)
    h.resolve(ids["A"], utc(2026, 3, 3, 0))
    h.callback(ids["A"], utc(2026, 3, 3, 2), reached=True, fixed=True, appointment_made=True, on_time=True,
               guided=False, satisfaction=5, comment="great")
    h.resolve(ids["B"], utc(2026, 3, 3, 3))
    h.escalate(ids["C"], utc(2026, 3, 3, 3, 30), 1)
    h.escalate(ids["C"], utc(2026, 3, 3, 4), 2)
    for hour in (4, 5, 6):
        h.callback(ids["B"], utc(2026, 3, 3, hour), reached=False)
    h.resolve(ids["C"], utc(2026, 3, 3, 5))
    h.callback(ids["C"], utc(2026, 3, 3, 6), reached=True, fixed=False, appointment_made=False, on_time=False,
               guided=False, satisfaction=2)
    h.resolve(ids["C"], utc(2026, 3, 4, 5))
    h.callback(ids["C"], utc(2026, 3, 4, 6), reached=True, fixed=True, appointment_made=True, on_time=True,
               guided=True, satisfaction=4)
    ids["D"] = h.order(utc(2026, 3, 5, 0), city.t3, city.c4, category="BB-SLOW")
    h.resolve(ids["D"], utc(2026, 3, 6, 2))
    ids["E"] = h.order(utc(2026, 3, 7, 0), city.t3, city.c4)
    h.escalate(ids["E"], utc(2026, 3, 8, 1), 1)
    ids["G"] = h.order(utc(2026, 3, 8, 15), city.t1, city.c1, category="INST-DTV")
    ids["H"] = h.order(utc(2026, 3, 8, 17), city.t2, city.c2, category="INST-DTV")
    clock.set(utc(2026, 3, 9, 0))
    return ids


def _card(app, actor, group=None, frm="2026-03-02", to="2026-03-08", **filters):
    from dispatch.reports.services import kpis
    with app.app_context():
        user = get_user(actor.id)
        period = kpis.parse_period(frm, to)
        f = kpis.resolve_filters(user, **filters)
        cards = kpis.scorecard(user, period, f, group)
        db.session.rollback()
        return cards if group else cards[0]


def test_the_states_the_history_left(history, week):
    assert history.status(week["A"]) == "closed"
    assert history.status(week["B"]) == "closed"  # unreachable after 3 attempts
    assert history.status(week["C"]) == "closed"
    assert history.status(week["D"]) == "resolved"
    assert history.status(week["E"]) == "assigned"


def test_totals_for_the_week(app, city, week):
    c = _card(app, city.dispatcher)
    assert c["orders"] == 6  # A B C D E G (F before, H after the period)
    assert c["resolved"] == 5  # F A B C D
    assert c["on_time"] == 4 and c["on_time_rate"] == 0.8  # D is late; A exactly at the deadline counts
    assert c["mttr_hours"] == 29.0  # (22 + 24 + 23 + 50 + 26) / 5
    assert c["first_time_fix"] == 3 and c["first_time_fix_rate"] == 0.6  # F A B
    assert c["repeats"] == 2 and c["repeat_rate"] == 0.3333  # C (reopened), E (after D)
    assert c["backlog"] == {"lt24": 1, "24to48": 0, "48to72": 1, "gt72": 0} and c["backlog_total"] == 2
    assert c["breaches_by_level"] == {"1": 1, "2": 1}  # E level 1; C reached 2 (reopen reset the column)
    assert c["callbacks"] == 4 and c["unreachable"] == 1 and c["unhappy"] == 1
    assert c["satisfaction_avg"] == 3.5  # (3 + 5 + 2 + 4) / 4
    assert c["yes_rates"] == {"fixed": 0.75, "appointment_made": 0.5, "on_time": 0.75, "guided": 0.5}
    assert c["work_points"] == 5.6  # four plain jobs and one broadband (1.6)


def test_by_technician(app, city, week):
    cards = {c["key"]: c for c in _card(app, city.dispatcher, "technician")}
    assert set(cards) == {"t1", "t2", "t3"}
    t1, t2, t3 = cards["t1"], cards["t2"], cards["t3"]
    assert (t1["orders"], t1["resolved"], t1["on_time_rate"], t1["mttr_hours"], t1["first_time_fix_rate"],
            t1["work_points"]) == (3, 3, 1.0, 23.0, 1.0, 3.0)
    assert t1["backlog"]["lt24"] == 1 and t1["callbacks"] == 2 and t1["unreachable"] == 1
    assert t1["satisfaction_avg"] == 4.0
    assert (t2["orders"], t2["resolved"], t2["mttr_hours"], t2["first_time_fix_rate"], t2["repeat_rate"],
            t2["breaches_by_level"], t2["callbacks"], t2["satisfaction_avg"]) == (1, 1, 50.0, 0.0, 1.0, {"2": 1}, 2, 3.0)
    assert (t3["orders"], t3["resolved"], t3["on_time_rate"], t3["mttr_hours"], t3["repeat_rate"],
            t3["backlog"]["48to72"], t3["breaches_by_level"], t3["work_points"]) == (2, 1, 0.0, 26.0, 0.5, 1, {"1": 1}, 1.6)
    assert t3["satisfaction_avg"] is None and t3["yes_rates"]["fixed"] is None


def test_by_station_category_and_service_line(app, city, week):
    st = {c["key"]: c for c in _card(app, city.dispatcher, "station")}
    assert (st["S01"]["orders"], st["S01"]["resolved"], st["S01"]["on_time_rate"]) == (4, 4, 1.0)
    assert (st["S02"]["orders"], st["S02"]["resolved"], st["S02"]["on_time_rate"]) == (2, 1, 0.0)
    assert st["S01"]["label"] == "S01 North"
    cat = {c["key"]: c for c in _card(app, city.dispatcher, "category")}
    assert cat["BB-SLOW"]["resolved"] == 1 and cat["DTV-MOSAIC"]["resolved"] == 4 and cat["INST-DTV"]["orders"] == 1
    line = {c["key"]: c for c in _card(app, city.dispatcher, "service_line")}
    assert line["broadband"]["work_points"] == 1.6 and line["digital_tv"]["orders"] == 5
    only_bb = _card(app, city.dispatcher, service_line="broadband")
    assert (only_bb["orders"], only_bb["resolved"]) == (1, 1)


def test_a_one_day_period_cuts_orders_that_span_it(app, city, week):
    day = _card(app, city.dispatcher, frm="2026-03-02", to="2026-03-02")
    assert day["orders"] == 3  # A B C reported that local day
    assert day["resolved"] == 1 and day["mttr_hours"] == 22.0  # only F, reported the day before
    assert day["callbacks"] == 1 and day["satisfaction_avg"] == 3.0
    before = _card(app, city.dispatcher, frm="2026-03-01", to="2026-03-01")
    assert (before["orders"], before["resolved"]) == (1, 0)  # F: 03-01 18:00 local


def test_drill_down_lists_the_orders_behind_each_number(app, city, week):
    from dispatch.reports.services import kpis
    with app.app_context():
        user = get_user(city.dispatcher.id)
        period = kpis.parse_period("2026-03-02", "2026-03-08")
        f = kpis.resolve_filters(user)

        def ids(metric, level=None):
            return {o.id for o in db.session.scalars(kpis.orders_behind(metric, period, f, level))}
        assert ids("orders") == {week[k] for k in "ABCDEG"}
        assert ids("resolved") == {week[k] for k in "FABCD"}
        assert ids("late") == {week["D"]}
        assert ids("ftf") == {week[k] for k in "FAB"}
        assert ids("repeat") == {week["C"], week["E"]}
        assert ids("backlog_48to72") == {week["E"]}
        assert ids("breach", "2") == {week["C"]}
        assert ids("unreachable") == {week["B"]}
        assert ids("unhappy") == {week["C"]}
        with pytest.raises(Invalid):
            ids("nonsense")


def test_visibility(app, city, week, make_user):
    # a supervisor sees their station only; asking for another is refused
    sup = _card(app, city.supervisor)
    assert sup["orders"] == 4
    with pytest.raises(Forbidden):
        _card(app, city.supervisor, station="S02")
    with pytest.raises(Forbidden):
        _card(app, city.supervisor, technician="t3")
    # a technician sees their own card, never another's
    assert _card(app, city.t3)["orders"] == 2
    with pytest.raises(Forbidden):
        _card(app, city.t3, technician="t1")
    # unknown filters are 404s, bad ones 422s
    with pytest.raises(NotFound):
        _card(app, city.dispatcher, station="NOPE")
    with pytest.raises(Invalid):
        _card(app, city.dispatcher, frm="2026-03-09", to="2026-03-02")
    with pytest.raises(Invalid):
        _card(app, city.dispatcher, frm="yesterday")
    with pytest.raises(Forbidden):
        _card(app, make_user("stockkeeper"))


def test_parts_come_from_the_inventory_ledger(app, city, history, clock):
    """Parts consumed per technician and station are inventory's consumption report, in the same period."""
    from inventory import services as inventory
    oid = history.order(utc(2026, 3, 2, 0), city.t1, city.c1)
    with app.app_context():
        admin = get_user(city.admin.id)
        inventory.save_item(sku="F-CONN", name="F connector", category="connector", actor=admin)
        inventory.ensure_locations()
        inventory.record_move("receive", sku="F-CONN", qty=10, source="SUPPLIER", target="VAN-T1", actor=admin)
        db.session.commit()
    clock.set(utc(2026, 3, 2, 3))
    with app.app_context():
        inventory.issue_parts_for_order(oid, get_user(city.t1.id), [{"sku": "F-CONN", "qty": 3}])
        db.session.commit()
    history.resolve(oid, utc(2026, 3, 2, 4))
    techs = {c["key"]: c for c in _card(app, city.dispatcher, "technician", to="2026-03-02")}
    assert techs["t1"]["parts"] == 3
    assert {c["key"]: c["parts"] for c in _card(app, city.dispatcher, "station", to="2026-03-02")}["S01"] == 3
    assert _card(app, city.dispatcher, to="2026-03-02")["parts"] == 3
    assert _card(app, city.dispatcher, frm="2026-03-03", to="2026-03-03")["parts"] == 0  # outside the period
    assert "parts" not in _card(app, city.dispatcher, "category", to="2026-03-02")[0]  # no per-category ledger
