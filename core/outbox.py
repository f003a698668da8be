"""The notifications outbox: every alert is a row written in the same transaction as its cause.

One row per (cause, recipient): `key` is unique, so a retried job or a second process
cannot store the same alert twice. Delivery (Web Push) happens after commit, in
field/, which reads pending rows from here.

A commit that stored alerts wakes the delivery at once (core/worker.py), so an alert leaves
seconds after its cause rather than at the next tick: on PostgreSQL the transaction also
sends `NOTIFY restore24_outbox` (delivered by PostgreSQL only if it commits) to every
worker process; within a process, the listeners registered with `on_alerts_committed`
are called after the commit. They only signal — nothing is delivered in the committing
(request) thread. A wake-up that is lost (a worker that was down, a network blip) costs
only time: the tick's delivery job sends whatever is still pending.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from sqlalchemy import event
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import messages
from core.db import UTCDateTime, now
from core.extensions import db

if TYPE_CHECKING:
    from flask_babel import LazyString

    from core.auth import User

URGENCIES = ("very-low", "low", "normal", "high")
NOTIFY_CHANNEL = "restore24_outbox"  # PostgreSQL LISTEN/NOTIFY channel of committed alerts

log = logging.getLogger(__name__)


class Notification(db.Model):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)  # cause + recipient
    recipient_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    order_id: Mapped[int | None] = mapped_column(index=True)  # orders known by id only
    # as rendered for the recipient when stored (old readers, exports); shown and pushed from the code
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.String(500), default="")
    # the alert as a message code and its parameters (core.messages): rendered in the reader's language
    message_code: Mapped[str | None] = mapped_column(sa.String(40))
    params: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    url: Mapped[str] = mapped_column(sa.String(300), default="/")
    urgency: Mapped[str] = mapped_column(sa.String(10), default="normal")
    topic: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # push delivery: pending → sent | no_device | failed
    push_status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    push_attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # a delivery worker's claim: rows are sent only by the holder of an unexpired claim
    claim_token: Mapped[str | None] = mapped_column(sa.String(32))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        # the delivery job's hot query: pending rows that are due
        sa.Index("ix_notifications_pending", "next_attempt_at",
                 postgresql_where=sa.text("push_status = 'pending'"),
                 sqlite_where=sa.text("push_status = 'pending'")),
        sa.Index("ix_notifications_recipient_unread", "recipient_id", "read_at"),
        sa.CheckConstraint("urgency IN ('very-low','low','normal','high')", name="urgency_known"),
        sa.CheckConstraint("push_status IN ('pending','sent','no_device','failed')", name="push_status_known"),
    )

    @property
    def title_text(self) -> str:
        """The title in the current (the reader's) language; the stored text for an alert without a code."""
        return messages.render(self.message_code, self.params, self.title, 0)

    @property
    def body_text(self) -> str:
        return messages.render(self.message_code, self.params, self.body, 1)

    def payload(self, locale: str | None = None) -> dict[str, Any]:
        """What goes to the phone, in the recipient's language (`locale`, else looked up) as it is at
        sending: nothing about the customer beyond the lock-screen text."""
        if locale is None:
            from core.auth import User  # core.auth's models load after this module's
            locale = _locale_of(db.session.get(User, self.recipient_id))
        with force_locale(locale):
            title, body = self.title_text, self.body_text
        data: dict[str, Any] = {"type": self.kind, "title": title, "body": body, "url": self.url}
        if self.order_id is not None:
            data["order"] = self.order_id
        return data


def _locale_of(user: Any) -> str:
    return getattr(user, "locale", None) or current_app.config["BABEL_DEFAULT_LOCALE"]


def enqueue(kind: str, recipient: User, *, cause: str, message: messages.Stored | None = None,
            title: str | LazyString = "", body: str | LazyString = "", url: str = "/", order_id: int | None = None,
            urgency: str = "normal", topic: str | None = None) -> Notification | None:
    """Store an alert for one user, once. Returns None if this (cause, recipient) exists already.

    `message`: a stored message whose template is a (title, body) pair; the alert is then shown
    in the language of whoever reads it, and pushed in the recipient's language at sending.
    Without it, `title` and `body` (lazy strings allowed) are rendered in the recipient's language
    and stay so. Uses a savepoint so a duplicate does not spoil the caller's transaction.
    """
    key = f"{cause}:{recipient.id}"[:200]
    if db.session.scalar(sa.select(Notification.id).where(Notification.key == key)) is not None:
        return None
    code, params = (message.code, message.params) if message is not None else (None, None)
    with force_locale(_locale_of(recipient)):
        if message is not None:
            title, body = messages.render(code, params, "", 0), messages.render(code, params, "", 1)
        title_text, body_text = str(title)[:200], str(body)[:500]
    note = Notification(key=key, recipient_id=recipient.id, kind=kind, order_id=order_id, title=title_text,
                        body=body_text, message_code=code, params=params,
                        url=url[:300], urgency=urgency if urgency in URGENCIES else "normal",
                        topic=(topic or "")[:32] or None, created_at=now(), next_attempt_at=now())
    try:
        with db.session.begin_nested():
            db.session.add(note)
    except sa.exc.IntegrityError:  # another process stored it between our check and insert
        return None
    return note


def unread_count(user_id: int) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.recipient_id == user_id, Notification.read_at.is_(None))) or 0


def inbox(user_id: int):
    return (sa.select(Notification).where(Notification.recipient_id == user_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc()))


def mark_read(user_id: int, ids: list[int] | None = None) -> int:
    stmt = sa.update(Notification).where(Notification.recipient_id == user_id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    return db.session.execute(stmt.values(read_at=now())).rowcount


# ---------------------------------------------------------------- wake-up after commit

_STORED = "restore24_outbox_stored"  # session.info: this transaction flushed alerts
_listeners: list[Callable[[], None]] = []


def on_alerts_committed(listener: Callable[[], None]) -> None:
    """Call `listener()` after every commit (in this process) that stored alerts.

    It runs in the committing thread — a web request — so it must only signal (set an
    event), never deliver. Spurious calls are possible (a savepoint with an alert rolled
    back); a listener must treat a call as "look for due alerts", nothing more.
    """
    _listeners.append(listener)


def mark_work_for_worker() -> None:
    """This transaction leaves the worker work other than alerts (an address to geocode): its
    commit wakes the worker like one that stored alerts (NOTIFY on PostgreSQL, the listeners here)."""
    db.session.info[_STORED] = True


# the worker's SQLite watch: grows when another process commits an alert
NEWEST_ALERT_SQL = "SELECT max(id) FROM notifications"


def remove_alerts_committed(listener: Callable[[], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def _holds_alerts(objects) -> bool:
    return any(isinstance(obj, Notification) for obj in objects)


@event.listens_for(Session, "after_flush")
def _mark_alerts(session: Session, _flush_context) -> None:
    if _holds_alerts(session.new):
        session.info[_STORED] = True


@event.listens_for(Session, "before_commit")
def _notify_other_processes(session: Session) -> None:
    """Inside the committing transaction: PostgreSQL delivers the NOTIFY at commit, and
    drops it with a rollback, so a worker is never woken for alerts that do not exist."""
    if session.in_nested_transaction():  # a savepoint's release: the outer commit decides
        return
    if not (session.info.get(_STORED) or _holds_alerts(session.new)):
        return
    session.info[_STORED] = True
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")


@event.listens_for(Session, "after_commit")
def _wake_this_process(session: Session) -> None:
    if session.in_nested_transaction() or not session.info.pop(_STORED, False):
        return
    for listener in tuple(_listeners):
        try:
            listener()
        except Exception:  # the commit has happened; a failing listener must not turn it into an error
            log.exception("outbox wake-up listener failed")


@event.listens_for(Session, "after_transaction_end")
def _forget_alerts(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended (rolled back, or committed above)
        session.info.pop(_STORED, None)
