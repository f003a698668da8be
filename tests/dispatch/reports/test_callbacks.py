"""Callbacks through the services: the queue, reached or not, happy or not, the one-time link."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from core.auth import get_user
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.extensions import db

HAPPY = {"reached": True, "fixed": True, "appointment_made": True, "on_time": True, "guided": True,
         "satisfaction": 4, "comment": "thanks"}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def resolved(history, city):
    """An order of t1 for c1 reported 03-02 00:00 and resolved 03-02 05:00."""
    oid = history.order(utc(2026, 3, 2, 0), city.t1, city.c1)
    history.resolve(oid, utc(2026, 3, 2, 5))
    return oid


def _callbacks(app, oid):
    from dispatch.reports.models import Callback
    with app.app_context():
        return list(db.session.scalars(sa.select(Callback).where(Callback.order_id == oid).order_by(Callback.id)))


def _events(app, oid, type_="callback"):
    from dispatch.orders import services
    with app.app_context():
        return [e for e in services.timeline(services.get_order(oid)) if e.type == type_]


def test_resolved_orders_wait_in_the_queue_until_called(app, city, history, resolved, make_user):
    from dispatch.reports.services import callbacks
    other = make_user("supervisor", station=city.s2)
    with app.app_context():
        rows = list(db.session.scalars(callbacks.queue_query(get_user(city.dispatcher.id))))
        assert [o.id for o in rows] == [resolved] and callbacks.current_callbacks(rows) == {}
        assert callbacks.due_at(rows[0]) == utc(2026, 3, 4, 5)  # 48 h after the resolution
        # the other station's supervisor does not see it; this station's does
        assert db.session.execute(callbacks.queue_query(get_user(city.supervisor.id))).all()
        assert db.session.execute(callbacks.queue_query(get_user(other.id))).all() == []
    history.callback(resolved, utc(2026, 3, 2, 8), **HAPPY)
    with app.app_context():
        assert db.session.execute(callbacks.queue_query(get_user(city.dispatcher.id))).all() == []


def test_the_due_time_is_a_setting(app, city, resolved, monkeypatch):
    from dispatch.reports.services import callbacks
    monkeypatch.setitem(app.config, "CALLBACK_DUE_HOURS", 24)
    with app.app_context():
        order = db.session.scalars(callbacks.queue_query(get_user(city.dispatcher.id))).one()
        assert callbacks.due_at(order) == utc(2026, 3, 3, 5)


def test_a_happy_callback_closes_the_order(app, history, resolved):
    cb = history.callback(resolved, utc(2026, 3, 2, 8), **HAPPY)
    assert (cb.status, cb.follow_up) == ("answered", None)
    assert history.status(resolved) == "closed"
    saved = _callbacks(app, resolved)[0]
    assert (saved.attempts, saved.satisfaction, saved.comment, saved.channel) == (1, 4, "thanks", "phone")
    assert [e.data["outcome"] for e in _events(app, resolved)] == ["happy"]
    assert _events(app, resolved, "closed")


def test_unreachable_three_times_closes_as_unreachable(app, history, resolved):
    for n, hour in enumerate((6, 7), start=1):
        cb = history.callback(resolved, utc(2026, 3, 2, hour), reached=False)
        assert cb.status == "pending" and history.status(resolved) == "resolved"
    cb = history.callback(resolved, utc(2026, 3, 2, 9), reached=False, comment="no answer")
    assert cb.status == "unreachable" and history.status(resolved) == "closed"
    saved = _callbacks(app, resolved)
    assert len(saved) == 1 and saved[0].attempts == 3 and saved[0].reached is False
    assert [e.data["attempt"] for e in _events(app, resolved)] == [1, 2, 3]
    with pytest.raises(Conflict):  # closed: nothing more to record
        history.callback(resolved, utc(2026, 3, 2, 10), reached=False)


def test_the_attempt_limit_is_a_setting(app, history, resolved, monkeypatch):
    monkeypatch.setitem(app.config, "CALLBACK_MAX_ATTEMPTS", 1)
    assert history.callback(resolved, utc(2026, 3, 2, 6), reached=False).status == "unreachable"


@pytest.mark.parametrize("answers", [{"fixed": False, "satisfaction": 4}, {"fixed": True, "satisfaction": 2}])
def test_an_unhappy_answer_reopens_the_order(app, history, resolved, answers):
    cb = history.callback(resolved, utc(2026, 3, 2, 8), **{**HAPPY, **answers})
    assert cb.follow_up == "reopened"
    assert history.status(resolved) == "assigned"  # back with its technician
    assert _events(app, resolved, "reopened")
    from dispatch.orders import services
    with app.app_context():
        assert services.get_order(resolved).is_repeat is True


def test_a_satisfied_three_is_not_unhappy(app, history, resolved):
    assert history.callback(resolved, utc(2026, 3, 2, 8), **{**HAPPY, "satisfaction": 3}).follow_up is None


def test_the_complaint_visit_policy_opens_a_visit(app, city, history, resolved, monkeypatch):
    monkeypatch.setitem(app.config, "CALLBACK_UNHAPPY_ACTION", "complaint_visit")
    cb = history.callback(resolved, utc(2026, 3, 2, 8), **{**HAPPY, "fixed": False, "comment": "still broken"})
    assert cb.follow_up == "complaint_visit" and history.status(resolved) == "closed"
    from dispatch.orders import services
    with app.app_context():
        visit = services.get_order(cb.follow_up_order_id)
        assert (visit.kind, visit.customer_id, visit.priority) == ("complaint_visit", city.c1.id, "high")
        assert "still broken" in visit.description


def test_reopen_falls_back_to_a_visit_after_seven_days(app, history, resolved):
    cb = history.callback(resolved, utc(2026, 3, 9, 6), **{**HAPPY, "satisfaction": 1})
    assert cb.follow_up == "complaint_visit" and history.status(resolved) == "closed"


@pytest.mark.parametrize("bad, field", [
    ({**HAPPY, "satisfaction": 0}, "satisfaction"), ({**HAPPY, "satisfaction": 6}, "satisfaction"),
    ({**HAPPY, "satisfaction": "5"}, "satisfaction"), ({**HAPPY, "satisfaction": True}, "satisfaction"),
    ({**HAPPY, "satisfaction": 4.5}, "satisfaction"), ({**HAPPY, "fixed": "yes"}, "fixed"),
    ({"fixed": True}, "reached"), ({**HAPPY, "comment": "x" * 1001}, "comment"),
    ({**HAPPY, "guided": None}, "guided"),
])
def test_bad_answers_change_nothing(app, city, history, resolved, bad, field):
    with pytest.raises(Invalid) as err:
        history.callback(resolved, utc(2026, 3, 2, 8), **bad)
    assert field in err.value.fields
    assert _callbacks(app, resolved) == [] and history.status(resolved) == "resolved"


def test_only_resolved_orders_take_a_callback(app, city, history):
    oid = history.order(utc(2026, 3, 2, 0), city.t1, city.c1)
    with pytest.raises(Conflict):
        history.callback(oid, utc(2026, 3, 2, 1), **HAPPY)
    with pytest.raises(NotFound):
        history.callback(999999, utc(2026, 3, 2, 1), **HAPPY)


def test_technicians_and_other_stations_may_not_record(app, city, resolved, make_user, make_station):
    from dispatch.reports.services import callbacks
    other_sup = make_user("supervisor", station=city.s2)
    with app.app_context():
        order = callbacks.order_for_callback(resolved)
        with pytest.raises(Forbidden):  # the technician's own order, but not theirs to close
            callbacks.record_callback(order, HAPPY, get_user(city.t1.id))
        with pytest.raises(NotFound):  # another station's order does not exist for them
            callbacks.record_callback(order, HAPPY, get_user(other_sup.id))
        db.session.rollback()


def test_a_reopened_and_resolved_again_order_gets_a_new_callback(app, history, resolved):
    history.callback(resolved, utc(2026, 3, 2, 8), **{**HAPPY, "fixed": False})
    history.resolve(resolved, utc(2026, 3, 2, 12))
    history.callback(resolved, utc(2026, 3, 2, 13), **HAPPY)
    saved = _callbacks(app, resolved)
    assert [(c.resolved_at, c.is_unhappy) for c in saved] == [(utc(2026, 3, 2, 5), True),
                                                             (utc(2026, 3, 2, 12), False)]
    assert history.status(resolved) == "closed"


# --------------------------------------------------------------------------- the one-time link

def _issue(app, city, oid):
    from dispatch.reports.services import callbacks
    with app.app_context():
        token = callbacks.issue_link(callbacks.order_for_callback(oid), get_user(city.dispatcher.id))
        db.session.commit()
        return token


def _answer(app, token, data):
    from dispatch.reports.services import callbacks
    with app.app_context():
        try:
            cb = callbacks.answer_by_link(token, data)
            db.session.commit()
            return cb.status
        finally:
            db.session.rollback()


def test_the_link_keeps_only_a_hash_and_works_once(app, city, history, resolved, clock):
    token = _issue(app, city, resolved)
    saved = _callbacks(app, resolved)[0]
    assert saved.token_hash and token not in saved.token_hash and len(token) >= 30
    assert saved.token_expires_at == clock.current + timedelta(days=7)
    answers = {k: v for k, v in HAPPY.items() if k != "reached"}
    assert _answer(app, token, answers) == "answered"
    assert history.status(resolved) == "closed"
    assert _callbacks(app, resolved)[0].channel == "link"
    from dispatch.reports.services.callbacks import Gone
    with pytest.raises(Gone) as err:
        _answer(app, token, answers)
    assert err.value.code == "used_link"


def test_an_expired_or_unknown_link_is_refused(app, city, history, resolved, clock):
    from dispatch.reports.services.callbacks import Gone
    token = _issue(app, city, resolved)
    clock.advance(days=7)
    with pytest.raises(Gone) as err:
        _answer(app, token, HAPPY)
    assert err.value.code == "expired_link"
    with pytest.raises(NotFound):
        _answer(app, "x" * 32, HAPPY)
    assert history.status(resolved) == "resolved"


def test_a_new_link_replaces_the_old_one(app, city, history, resolved):
    old = _issue(app, city, resolved)
    new = _issue(app, city, resolved)
    with pytest.raises(NotFound):
        _answer(app, old, HAPPY)
    assert _answer(app, new, {**HAPPY, "satisfaction": 5}) == "answered"


def test_a_link_answer_is_validated_like_any_other(app, city, history, resolved):
    token = _issue(app, city, resolved)
    with pytest.raises(Invalid):
        _answer(app, token, {**HAPPY, "satisfaction": 9})
    assert _answer(app, token, HAPPY) == "answered"  # the link still works after a bad try
