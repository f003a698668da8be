"""The audit log: who saw or changed what, when. Append-only."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import has_request_context, request
from flask_login import current_user
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, now
from core.extensions import db


class AuditEvent(db.Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    actor_name: Mapped[str | None] = mapped_column(sa.String(80))
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    object_type: Mapped[str | None] = mapped_column(sa.String(40))
    object_id: Mapped[str | None] = mapped_column(sa.String(80))
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    __table_args__ = (sa.Index("ix_audit_events_object", "object_type", "object_id"),)


def record(action: str, object_type: str | None = None, object_id: Any = None, *,
           actor: Any = None, **details: Any) -> AuditEvent:
    """Add an audit row to the current transaction. Never pass a revealed value itself."""
    if actor is None and has_request_context() and current_user and current_user.is_authenticated:
        actor = current_user
    event = AuditEvent(
        at=now(),
        actor_id=getattr(actor, "id", None),
        actor_name=getattr(actor, "username", None),
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        ip=request.remote_addr if has_request_context() else None,
        details=details,
    )
    db.session.add(event)
    return event


def search(action: str | None = None, actor: str | None = None, object_type: str | None = None,
           object_id: str | None = None, since: datetime | None = None, until: datetime | None = None):
    """A select of audit rows, newest first, for the admin page."""
    q = sa.select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if action:
        q = q.where(AuditEvent.action.startswith(action, autoescape=True))  # % and _ are literal
    if actor:
        q = q.where(AuditEvent.actor_name == actor)
    if object_type:
        q = q.where(AuditEvent.object_type == object_type)
    if object_id:
        q = q.where(AuditEvent.object_id == object_id)
    if since:
        q = q.where(AuditEvent.at >= since)
    if until:
        q = q.where(AuditEvent.at < until)
    return q
