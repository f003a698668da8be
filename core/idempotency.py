"""`Idempotency-Key` for API writes: the same key and body replay the first answer.

The first request with a key claims it in the request's own transaction, and the stored
response is written in that transaction too, so it is kept exactly when the work is. A second
request with the same key:
  - the first one finished, same body → the stored response is replayed, nothing runs;
  - the first one finished, other body → 422;
  - the first one still running       → 409 on PostgreSQL (try again later); on SQLite, one
                                         writer at a time, it waits for the first to end.
A failed request (4xx/5xx) rolls its claim back, so it may be retried; so does a crashed or
killed one, at once: the claim dies with its transaction and connection (see _claim).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, Callable

import sqlalchemy as sa
from flask import Response, current_app, request
from flask_login import current_user
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, now
from core.errors import Conflict, Invalid
from core.extensions import db

HEADER = "Idempotency-Key"
KEEP_HOURS = 24
MAX_KEY_LENGTH = 200
LOCK_CLASS = 0x49_44  # "ID": PostgreSQL advisory locks (class, key) of running requests' claims


class IdempotencyRecord(db.Model):
    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(MAX_KEY_LENGTH))
    user_id: Mapped[int] = mapped_column(default=0)  # 0: anonymous (keys are per caller)
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(12), default="in_progress")
    response_status: Mapped[int | None]
    response_body: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)

    __table_args__ = (
        sa.UniqueConstraint("user_id", "key"),
        sa.CheckConstraint("status IN ('in_progress', 'done')", name="status_known"),
    )


def _request_hash() -> str:
    raw = request.get_data(cache=True)
    try:
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = raw
    return hashlib.sha256(request.method.encode() + b" " + request.path.encode() + b"\n" + canonical).hexdigest()


def _lock_key(user_id: int, key: str) -> int:
    """The (caller, key) pair as a signed 32-bit advisory lock key (a collision costs one 409)."""
    return int.from_bytes(hashlib.sha256(f"{user_id}:{key}".encode()).digest()[:4], "big", signed=True)


def _busy() -> Conflict:
    return Conflict(f"A request with this {HEADER} is still being processed; retry later.",
                    code="idempotency_in_progress")


def _claim(key: str, user_id: int, digest: str) -> IdempotencyRecord | None:
    """Claim the key in the request's own transaction; the earlier record (a copy) if the key has
    one. None: the claim is ours.

    The claim is not committed apart: it lives and dies with the request's transaction, so the
    claim of a process killed mid-request goes with its connection at once (no stale row to wait
    out). What marks a request as running: on PostgreSQL a transaction-level advisory lock, so a
    second request with the key is told 409 at once rather than waiting at the unique index; on
    SQLite the database's one write lock (BEGIN IMMEDIATE, core.database), so it waits until the
    first has committed or rolled back, then sees its outcome. Views under @idempotent must not
    commit halfway (services never do): the lock would go with that commit.
    """
    if db.engine.dialect.name == "postgresql":
        locked = db.session.execute(sa.text("SELECT pg_try_advisory_xact_lock(:cls, :key)"),
                                    {"cls": LOCK_CLASS, "key": _lock_key(user_id, key)}).scalar()
        if not locked:
            raise _busy()
    table = IdempotencyRecord.__table__
    stamp = now()
    row = db.session.execute(sa.select(table).where(table.c.user_id == user_id, table.c.key == key)).one_or_none()
    if row is None:
        try:
            with db.session.begin_nested():
                db.session.execute(table.insert().values(key=key, user_id=user_id, request_hash=digest,
                                                         status="in_progress", created_at=stamp))
        except sa.exc.IntegrityError:  # claimed without the lock (a field sync item of the same key)
            raise _busy() from None
        return None
    expired = row.created_at < stamp - timedelta(hours=KEEP_HOURS)
    # A committed "in_progress" record has no live request behind it (a live one holds the lock,
    # and its claim is uncommitted): left by an older version that committed claims apart. Ours now.
    if expired or row.status == "in_progress":
        db.session.execute(table.update().where(table.c.id == row.id).values(
            request_hash=digest, status="in_progress", response_status=None, response_body=None, created_at=stamp))
        return None
    return IdempotencyRecord(**{c: getattr(row, c) for c in row._fields})


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate an API write route (below @allow) to honour the Idempotency-Key header."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get(HEADER, "").strip()
        if not key:
            return view(*args, **kwargs)
        if len(key) > MAX_KEY_LENGTH:
            raise Invalid(f"{HEADER} must be at most {MAX_KEY_LENGTH} characters.", {HEADER: "too_long"})
        user_id = current_user.id if current_user.is_authenticated else 0
        digest = _request_hash()
        existing = _claim(key, user_id, digest)
        if existing is not None:
            if existing.request_hash != digest:
                raise Invalid(f"This {HEADER} was used with another request body.", {HEADER: "reused"},
                              code="idempotency_key_reused")
            replay = Response(existing.response_body, status=existing.response_status,
                              mimetype="application/json")
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        try:
            response = current_app.make_response(view(*args, **kwargs))
            if response.status_code < 400:
                db.session.flush()  # surface integrity errors now, before the record says "done"
        except BaseException:
            db.session.rollback()  # the claim (and on PostgreSQL its lock) goes with the transaction
            raise
        if response.status_code >= 400:
            db.session.rollback()
            return response
        table = IdempotencyRecord.__table__
        db.session.execute(table.update().where(table.c.user_id == user_id, table.c.key == key).values(
            status="done", response_status=response.status_code, response_body=response.get_data(as_text=True)))
        return response
    return wrapper


def purge_expired() -> str:
    """Drop records older than the replay window."""
    table = IdempotencyRecord.__table__
    gone = db.session.execute(table.delete().where(table.c.created_at < now() - timedelta(hours=KEEP_HOURS))).rowcount
    return f"{gone} expired idempotency keys removed"

