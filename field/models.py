"""field: the browsers' push subscriptions and what happened to each alert on each device."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, now
from core.extensions import db

DELIVERY_STATUSES = ("sent", "retry", "gone", "failed")


class PushSubscription(db.Model):
    """One browser (device) of one user: where its push service wants our messages."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(sa.String(2048), unique=True)
    origin: Mapped[str] = mapped_column(sa.String(200))  # the push service: VAPID `aud`
    p256dh: Mapped[str] = mapped_column(sa.String(100))  # base64url, 65-byte uncompressed P-256 point
    auth: Mapped[str] = mapped_column(sa.String(40))  # base64url, 16-byte secret
    user_agent: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def subscription_info(self) -> dict:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


class PushDelivery(db.Model):
    """One attempt to hand one alert to one device's push service, and its answer."""

    __tablename__ = "push_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(sa.ForeignKey("notifications.id", ondelete="CASCADE"))
    # kept after the subscription is gone (410), so the history stays readable
    subscription_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("push_subscriptions.id", ondelete="SET NULL"), index=True)
    origin: Mapped[str] = mapped_column(sa.String(200))
    attempt: Mapped[int]
    status: Mapped[str] = mapped_column(sa.String(10))
    http_status: Mapped[int | None]
    error: Mapped[str] = mapped_column(sa.String(300), default="")
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    __table_args__ = (
        sa.Index("ix_push_deliveries_notification", "notification_id", "subscription_id"),
        sa.CheckConstraint("status IN ('sent','retry','gone','failed')", name="status_known"),
        sa.CheckConstraint("attempt >= 1", name="attempt_positive"),
    )


class ResolutionCode(db.Model):
    """What a technician may write down as the fix of a job of one category (by the category's code: field
    knows dispatch's categories only through its services), named in English and Chinese."""

    __tablename__ = "field_resolution_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_code: Mapped[str] = mapped_column(sa.String(40), index=True)
    code: Mapped[str] = mapped_column(sa.String(40))
    name: Mapped[str] = mapped_column(sa.String(120))
    name_zh: Mapped[str] = mapped_column(sa.String(120), default="")
    position: Mapped[int] = mapped_column(default=0)
    # a retired code leaves the technicians' list; the orders resolved with it keep their code
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())

    __table_args__ = (sa.UniqueConstraint("category_code", "code"),)

    def label(self, locale: str | None) -> str:
        return self.name_zh if (locale or "").startswith("zh") and self.name_zh else self.name
