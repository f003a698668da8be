"""`Idempotency-Key` for API writes: the same key and body replay the first answer.

The first request with a key claims it in its own short transaction (committed at once,
so other processes see it while the work runs; on SQLite, which has one writer at a time, in
the request's own transaction). A second request with the same key:
  - the same body, first one finished  → the stored response is replayed, nothing runs;
  - the same body, first one running   → 409 (try again later);
  - another body                       → 422.
The stored response is written in the request's own transaction, so it is kept exactly
when the work is. A failed request (4xx/5xx) releases its claim, so it may be retried.
A claim older than CLAIM_STALE_SECONDS (a crashed process) may be taken over.
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
CLAIM_STALE_SECONDS = 120
MAX_KEY_LENGTH = 200


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


def _claim(key: str, user_id: int, digest: str) -> IdempotencyRecord | None:
    """Claim the key; the existing row (a copy) if someone has it. None: the claim is ours."""
    if db.engine.dialect.name == "sqlite":
        # SQLite has one writer at a time: a second request waits for the first to commit, so a
        # claim in the request's own transaction is as good as a separate one, and a separate
        # connection would wait on this request's own write lock (e.g. a bearer token's audit row).
        return _claim_with(db.session, key, user_id, digest, own_transaction=False)
    with db.engine.connect() as conn:
        return _claim_with(conn, key, user_id, digest, own_transaction=True)


def _claim_with(conn: Any, key: str, user_id: int, digest: str, *, own_transaction: bool) -> IdempotencyRecord | None:
    table = IdempotencyRecord.__table__
    stamp = now()
    insert = table.insert().values(key=key, user_id=user_id, request_hash=digest, status="in_progress",
                                   created_at=stamp)
    try:
        if own_transaction:
            conn.execute(insert)
            conn.commit()
        else:
            with conn.begin_nested():
                conn.execute(insert)
        return None
    except sa.exc.IntegrityError:
        if own_transaction:
            conn.rollback()
    row = conn.execute(sa.select(table).where(table.c.user_id == user_id, table.c.key == key)).one_or_none()
    if row is None:  # released between our insert and select
        return _claim_with(conn, key, user_id, digest, own_transaction=own_transaction)
    expired = row.created_at < stamp - timedelta(hours=KEEP_HOURS)
    stale = row.status == "in_progress" and row.created_at < stamp - timedelta(seconds=CLAIM_STALE_SECONDS)
    if expired or stale:
        taken = conn.execute(table.update().where(table.c.id == row.id, table.c.created_at == row.created_at)
                             .values(request_hash=digest, status="in_progress", response_status=None,
                                     response_body=None, created_at=stamp)).rowcount
        if own_transaction:
            conn.commit()
        return None if taken else _claim_with(conn, key, user_id, digest, own_transaction=own_transaction)
    return IdempotencyRecord(**{c: getattr(row, c) for c in row._fields})


def _release(key: str, user_id: int) -> None:
    if db.engine.dialect.name == "sqlite":
        return  # the claim was in the request's transaction, which has been rolled back
    table = IdempotencyRecord.__table__
    with db.engine.connect() as conn:
        conn.execute(table.delete().where(table.c.user_id == user_id, table.c.key == key,
                                          table.c.status == "in_progress"))
        conn.commit()


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
            if existing.status != "done":
                raise Conflict(f"A request with this {HEADER} is still being processed; retry later.",
                               code="idempotency_in_progress")
            replay = Response(existing.response_body, status=existing.response_status,
                              mimetype="application/json")
            replay.headers["Idempotent-Replayed"] = "true"
            return replay
        try:
            response = current_app.make_response(view(*args, **kwargs))
            if response.status_code < 400:
                db.session.flush()  # surface integrity errors now, while the claim can still be released
        except BaseException:
            db.session.rollback()
            _release(key, user_id)
            raise
        if response.status_code >= 400:
            db.session.rollback()
            _release(key, user_id)
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

