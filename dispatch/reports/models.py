"""After-job callbacks: the customer survey per resolution, its attempts and its one-time link.

Also declares the indexes the scorecards read repair orders and their timeline by (they live in
migration 0006 with the callbacks table).
"""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, now
from core.extensions import db
from dispatch.orders.models import RepairOrder

CALLBACK_STATUSES = ("pending", "answered", "unreachable")
CALLBACK_CHANNELS = ("phone", "link")
FOLLOW_UPS = ("reopened", "complaint_visit")
QUESTIONS = ("fixed", "appointment_made", "on_time", "guided")
QUESTION_LABELS = {
    "reached": _l("Customer reached"),
    "fixed": _l("Was the fault fixed?"),
    "appointment_made": _l("Did we book a time with you?"),
    "on_time": _l("Did the technician arrive on time?"),
    "guided": _l("Did the technician show you how to use it?"),
}


class Callback(db.Model):
    """The survey about one resolution of an order (a reopened and re-resolved order gets another)."""

    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("repair_orders.id", ondelete="CASCADE"))
    resolved_at: Mapped[datetime] = mapped_column(UTCDateTime)  # which resolution this is about
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    channel: Mapped[str | None] = mapped_column(sa.String(8))
    reached: Mapped[bool | None]
    fixed: Mapped[bool | None]
    appointment_made: Mapped[bool | None]
    on_time: Mapped[bool | None]
    guided: Mapped[bool | None]
    satisfaction: Mapped[int | None]
    comment: Mapped[str] = mapped_column(sa.String(1000), default="")
    is_unhappy: Mapped[bool] = mapped_column(default=False)
    follow_up: Mapped[str | None] = mapped_column(sa.String(20))
    follow_up_order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("repair_orders.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # the one-time customer link: only the SHA-256 of the token is kept
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    token_issued_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    order: Mapped[RepairOrder] = relationship(foreign_keys=[order_id], lazy="joined")

    __table_args__ = (
        sa.UniqueConstraint("order_id", "resolved_at"),
        sa.CheckConstraint("status IN ('pending', 'answered', 'unreachable')", name="status_known"),
        sa.CheckConstraint("channel IS NULL OR channel IN ('phone', 'link')", name="channel_known"),
        sa.CheckConstraint("follow_up IS NULL OR follow_up IN ('reopened', 'complaint_visit')",
                           name="follow_up_known"),
        sa.CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="satisfaction_range"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.CheckConstraint("status <> 'answered' OR (reached AND satisfaction IS NOT NULL AND answered_at IS NOT NULL)",
                           name="answered_is_complete"),
        # the scorecards read answered callbacks by when they were answered, given-up ones by the last try
        sa.Index("ix_callbacks_status_answered_at", "status", "answered_at"),
        sa.Index("ix_callbacks_status_last_attempt_at", "status", "last_attempt_at"),
    )

    @property
    def is_link_open(self) -> bool:
        return (self.status == "pending" and self.token_hash is not None and self.token_expires_at is not None
                and self.token_expires_at > now())
