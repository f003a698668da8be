"""Worker heartbeats: each worker process says it is alive at every tick, so /readyz can tell.

One row per worker process (host:pid, as the scheduler lease names it). A worker writes its
row before and after each tick, in a transaction of its own, and deletes it when it stops
cleanly; a killed worker's row simply ages. A worker counts as seen while its last beat is
younger than two of its own tick intervals. Rows a day old are deleted by the next beat.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import UTCDateTime, now
from core.extensions import db

FORGET_AFTER = timedelta(days=1)


class WorkerHeartbeat(db.Model):
    __tablename__ = "worker_heartbeats"

    holder: Mapped[str] = mapped_column(sa.String(120), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    interval_seconds: Mapped[int]
    ticks: Mapped[int] = mapped_column(default=0)


def beat(holder: str, interval: float, *, ticked: bool = False) -> None:
    """Record that this worker is alive (and, with `ticked`, that it finished a tick). Commits."""
    t = now()
    row = db.session.get(WorkerHeartbeat, holder)
    if row is None:
        row = WorkerHeartbeat(holder=holder, started_at=t, seen_at=t, interval_seconds=max(1, round(interval)),
                              ticks=0)
        db.session.add(row)
    row.seen_at = t
    row.interval_seconds = max(1, round(interval))
    if ticked:
        row.ticks += 1
    db.session.execute(sa.delete(WorkerHeartbeat).where(WorkerHeartbeat.seen_at < t - FORGET_AFTER,
                                                        WorkerHeartbeat.holder != holder))
    db.session.commit()


def forget(holder: str) -> None:
    """A worker that stops cleanly takes its row away. Commits."""
    db.session.execute(sa.delete(WorkerHeartbeat).where(WorkerHeartbeat.holder == holder))
    db.session.commit()


def live_workers(at: datetime | None = None) -> list[WorkerHeartbeat]:
    """The workers seen within two of their intervals, most recent first."""
    t = at or now()
    rows = db.session.scalars(sa.select(WorkerHeartbeat).order_by(WorkerHeartbeat.seen_at.desc())).all()
    return [r for r in rows if r.seen_at + timedelta(seconds=2 * r.interval_seconds) >= t]


def last_seen() -> datetime | None:
    return db.session.scalar(sa.select(sa.func.max(WorkerHeartbeat.seen_at)))
