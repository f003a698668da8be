"""Declarative base, the UTC datetime column type and the one clock the app reads."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes on every database.

    SQLite keeps no zone and PostgreSQL returns the session's zone; storing naive UTC
    and re-attaching UTC on the way out makes both return the same value.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def _system_now() -> datetime:
    return datetime.now(timezone.utc)


_clock: Callable[[], datetime] = _system_now


def now() -> datetime:
    """The current time in UTC; tests replace the clock with `set_clock`."""
    return _clock()


def set_clock(clock: Callable[[], datetime] | None) -> None:
    global _clock
    _clock = clock or _system_now
