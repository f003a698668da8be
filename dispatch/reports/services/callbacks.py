"""After-job callbacks: the dispatchers' queue, the survey, the customer's one-time link.

A resolved order waits in the callback queue (due CALLBACK_DUE_HOURS after resolution). A
callback either fails to reach the customer (counted; after CALLBACK_MAX_ATTEMPTS the order
is closed as unreachable) or records the answers. A happy answer closes the order; an unhappy
one (not fixed, or satisfaction ≤ 2) reopens it or closes it and opens a complaint visit, as
CALLBACK_UNHAPPY_ACTION says. Orders move only through the orders service's transitions.
Nothing here commits.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased

from core import audit
from core.auth import User
from core.db import now
from core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from core.extensions import db
from core.parse import is_digits
from dispatch.reports.messages import stored
from dispatch.reports.models import QUESTIONS, Callback
from dispatch.orders.models import RepairOrder
from dispatch.orders.services.orders import (add_event, allowed_actions, check_may_see, create_order, get_order,
                                      transition)
from dispatch.orders.services.queries import orders_query

SETTINGS = {"CALLBACK_DUE_HOURS": 48, "CALLBACK_MAX_ATTEMPTS": 3, "CALLBACK_UNHAPPY_ACTION": "reopen",
            "CALLBACK_LINK_DAYS": 7, "CALLBACK_COMPLAINT_CATEGORY": "VISIT-COMPLAINT"}
UNHAPPY_ACTIONS = ("reopen", "complaint_visit")
MAX_COMMENT = 1000


class Gone(DomainError):
    status, code = 410, "gone"


def setting(name: str) -> Any:
    return current_app.config.get(name, SETTINGS[name])


# --------------------------------------------------------------------------- the queue

def queue_query(actor: User) -> Any:
    """Resolved orders the actor may manage that still wait for their callback, oldest resolution first.

    The callback row itself appears at the first attempt or link (see current_callbacks()).
    """
    base = orders_query(actor, status="resolved").order_by(None).subquery()
    order = aliased(RepairOrder, base)
    return (sa.select(order)
            .outerjoin(Callback, sa.and_(Callback.order_id == order.id, Callback.resolved_at == order.resolved_at))
            .where(sa.or_(Callback.id.is_(None), Callback.status == "pending"))
            .order_by(order.resolved_at, order.id))


def due_at(order: RepairOrder) -> Any:
    return order.resolved_at + timedelta(hours=float(setting("CALLBACK_DUE_HOURS")))


def current_callbacks(orders: list[RepairOrder]) -> dict[int, Callback]:
    """The callback (if any yet) about each order's present resolution."""
    if not orders:
        return {}
    rows = db.session.scalars(sa.select(Callback).where(Callback.order_id.in_([o.id for o in orders])))
    by_order = {o.id: o for o in orders}
    return {cb.order_id: cb for cb in rows if cb.resolved_at == by_order[cb.order_id].resolved_at}


def callbacks_of(order: RepairOrder) -> list[Callback]:
    return list(db.session.scalars(sa.select(Callback).where(Callback.order_id == order.id)
                                   .order_by(Callback.resolved_at)))


def _current(order: RepairOrder) -> Callback:
    """The callback about the order's present resolution, made on first use."""
    stmt = sa.select(Callback).where(Callback.order_id == order.id, Callback.resolved_at == order.resolved_at)
    cb = db.session.scalar(stmt)
    if cb is not None:
        return cb
    cb = Callback(order_id=order.id, resolved_at=order.resolved_at, due_at=due_at(order), status="pending",
                  attempts=0, comment="", is_unhappy=False, created_at=now())
    try:
        with db.session.begin_nested():
            db.session.add(cb)
            db.session.flush()
    except sa.exc.IntegrityError:  # another dispatcher opened it at the same moment
        cb = db.session.scalar(stmt)
        if cb is None:
            raise
    return cb


# --------------------------------------------------------------------------- answers

def _flag(data: dict[str, Any], name: str, errors: dict[str, str]) -> bool | None:
    value = data.get(name)
    if not isinstance(value, bool):
        errors[name] = str(_l("true or false"))
        return None
    return value


def clean_answers(data: Any) -> dict[str, Any]:
    """Check a survey before anything is written: `reached`; when reached, the four yes/no questions,
    `satisfaction` 1–5 and an optional `comment`. Invalid lists every bad field."""
    if not isinstance(data, dict):
        raise Invalid(str(_l("Please correct the marked fields.")), {"reached": str(_l("true or false"))})
    errors: dict[str, str] = {}
    out: dict[str, Any] = {"reached": _flag(data, "reached", errors)}
    comment = data.get("comment")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        errors["comment"] = str(_l("must be text"))
    elif len(comment.strip()) > MAX_COMMENT:
        errors["comment"] = str(_l("at most %(n)d characters", n=MAX_COMMENT))
    out["comment"] = comment.strip() if isinstance(comment, str) else ""
    if out["reached"]:
        for name in QUESTIONS:
            out[name] = _flag(data, name, errors)
        sat = data.get("satisfaction")
        if isinstance(sat, bool) or not isinstance(sat, int) or not 1 <= sat <= 5:
            errors["satisfaction"] = str(_l("a whole number from 1 to 5"))
        out["satisfaction"] = sat
    if errors:
        raise Invalid(str(_l("Please correct the marked fields.")), errors)
    return out


def answers_from_form(form: Any) -> dict[str, Any]:
    """A survey form's strings as the JSON types clean_answers() checks (bad values stay bad)."""
    def flag(name: str) -> Any:
        raw = form.get(name)
        return {"yes": True, "no": False}.get(raw, raw)

    sat = (form.get("satisfaction") or "").strip()
    out: dict[str, Any] = {"reached": flag("reached"), "comment": form.get("comment", "")}
    for name in QUESTIONS:
        out[name] = flag(name)
    out["satisfaction"] = int(sat) if is_digits(sat) and len(sat) < 3 else (sat or None)
    return out


def form_messages(fields: dict[str, str]) -> dict[str, str]:
    """A survey form's words for clean_answers()'s refusals, which speak JSON ("true or false")."""
    out = {}
    for name, message in (fields or {}).items():
        if name == "reached" or name in QUESTIONS:
            out[name] = str(_l("Please choose yes or no."))
        elif name == "satisfaction":
            out[name] = str(_l("Please choose from 1 to 5."))
        else:
            out[name] = message
    return out


def is_unhappy(answers: dict[str, Any]) -> bool:
    return answers["fixed"] is False or answers["satisfaction"] <= 2


def record_callback(order: RepairOrder, data: Any, actor: User, *, channel: str = "phone") -> Callback:
    """Record one callback attempt on a resolved order (see the module docstring for what follows).

    The actor must be allowed to close the order (dispatcher, admin, the station's supervisor).
    Bad answers (Invalid), an order that is not resolved (Conflict) change nothing.
    """
    check_may_see(order, actor)
    answers = clean_answers(data)
    return _apply(order, _open_callback(order, actor), answers, actor, channel)


def _open_callback(order: RepairOrder, actor: User) -> Callback:
    """The pending callback of a resolved order that the actor may close (Conflict / Forbidden otherwise)."""
    if order.status != "resolved" or order.resolved_at is None:
        raise Conflict(str(_l("Only resolved orders wait for a callback.")), {"order": "not_resolved"},
                       code="not_resolved")
    if "close" not in allowed_actions(order, actor):
        raise Forbidden(str(_l("Only dispatchers and the station's supervisors may do that.")))
    cb = _current(order)
    if cb.status != "pending":
        raise Conflict(str(_l("This callback is finished already.")), code="callback_done")
    return cb


def _apply(order: RepairOrder, cb: Callback, answers: dict[str, Any], actor: User, channel: str) -> Callback:
    at = now()
    cb.attempts += 1
    cb.last_attempt_at, cb.channel, cb.actor_id = at, channel, actor.id
    if answers["comment"]:
        cb.comment = answers["comment"]
    if not answers["reached"]:
        limit = int(setting("CALLBACK_MAX_ATTEMPTS"))
        add_event(order, "callback", actor, answers["comment"], outcome="not_reached", attempt=cb.attempts,
                  max_attempts=limit)
        if cb.attempts >= limit:
            cb.status, cb.reached = "unreachable", False
            transition(order, "close", actor,
                       note=stored("callback.unreachable", n=cb.attempts))
        audit.record("callback.attempt", "repair_order", order.id, actor=actor, reached=False, attempt=cb.attempts)
        db.session.flush()
        return cb
    cb.reached = True
    for name in QUESTIONS:
        setattr(cb, name, answers[name])
    cb.satisfaction, cb.status, cb.answered_at = answers["satisfaction"], "answered", at
    cb.is_unhappy = is_unhappy(answers)
    add_event(order, "callback", actor, answers["comment"], outcome="unhappy" if cb.is_unhappy else "happy",
              channel=channel, satisfaction=cb.satisfaction, fixed=cb.fixed)
    if not cb.is_unhappy:
        transition(order, "close", actor, note=stored("callback.closed"))
    elif setting("CALLBACK_UNHAPPY_ACTION") == "reopen" and "reopen" in allowed_actions(order, actor):
        cb.follow_up = "reopened"
        transition(order, "reopen", actor, note=stored("callback.reopened"))
    else:
        cb.follow_up = "complaint_visit"
        transition(order, "close", actor, note=stored("callback.complaint_visit"))
        visit = create_order({
            "customer_id": order.customer_id, "category": setting("CALLBACK_COMPLAINT_CATEGORY"),
            "description": str(_l("Complaint visit after the callback on %(number)s.", number=order.number))
            + (f"\n{cb.comment}" if cb.comment else ""),
            "address": order.address, "priority": "high", "channel": "web" if channel == "link" else "hotline",
            **({"lat": order.lat, "lon": order.lon} if order.lat is not None else {}),
        }, actor)
        cb.follow_up_order_id = visit.id
    audit.record("callback.answer", "repair_order", order.id, actor=actor, channel=channel,
                 satisfaction=cb.satisfaction, unhappy=cb.is_unhappy, follow_up=cb.follow_up)
    db.session.flush()
    return cb


# --------------------------------------------------------------------------- the customer's link

def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(order: RepairOrder, actor: User) -> str:
    """A one-time survey link token for the customer (only its hash is kept; a new one replaces the old)."""
    check_may_see(order, actor)
    cb = _open_callback(order, actor)
    token = secrets.token_urlsafe(24)
    cb.token_hash = _hash(token)
    cb.token_expires_at = now() + timedelta(days=float(setting("CALLBACK_LINK_DAYS")))
    cb.token_issued_by_id = actor.id
    add_event(order, "note", actor, str(_l("Survey link sent to the customer.")))
    audit.record("callback.link", "repair_order", order.id, actor=actor)
    db.session.flush()
    return token


def callback_by_token(token: Any) -> Callback:
    """The open survey a link names; NotFound for an unknown token, Gone for a used or expired one."""
    if not isinstance(token, str) or not 10 <= len(token) <= 100:
        raise NotFound(str(_l("This survey link is not valid.")), code="invalid_link")
    cb = db.session.scalar(sa.select(Callback).where(Callback.token_hash == _hash(token)))
    if cb is None:
        raise NotFound(str(_l("This survey link is not valid.")), code="invalid_link")
    if cb.status != "pending" or cb.order.status != "resolved" or cb.order.resolved_at != cb.resolved_at:
        raise Gone(str(_l("This survey has been answered already. Thank you!")), code="used_link")
    if cb.token_expires_at is None or cb.token_expires_at <= now():
        raise Gone(str(_l("This survey link has expired.")), code="expired_link")
    return cb


def answer_by_link(token: Any, data: Any) -> Callback:
    """The customer's own answers through the link: reached by definition; acts as the link's issuer."""
    cb = callback_by_token(token)
    answers = clean_answers({**(data if isinstance(data, dict) else {}), "reached": True})
    actor = db.session.get(User, cb.token_issued_by_id)
    if actor is None:
        raise Gone(str(_l("This survey link has expired.")), code="expired_link")
    cb.token_expires_at = now()  # one use only, whatever follows
    return _apply(cb.order, cb, answers, actor, "link")


def order_for_callback(order_id: Any) -> RepairOrder:
    return get_order(order_id)


def callback_json(cb: Callback) -> dict[str, Any]:
    from core.i18n import iso_local
    return {"id": cb.id, "order": cb.order_id, "status": cb.status, "attempts": cb.attempts,
            "channel": cb.channel, "reached": cb.reached, **{q: getattr(cb, q) for q in QUESTIONS},
            "satisfaction": cb.satisfaction, "comment": cb.comment, "unhappy": cb.is_unhappy,
            "follow_up": cb.follow_up, "follow_up_order": cb.follow_up_order_id,
            "due_at": iso_local(cb.due_at), "answered_at": iso_local(cb.answered_at),
            "order_status": cb.order.status}
