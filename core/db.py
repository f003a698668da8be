"""Declarative base, the UTC datetime column type, portable datetime arithmetic and the one clock the app reads."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.functions import FunctionElement

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


class seconds_between(FunctionElement):  # noqa: N801  (reads like a SQL function)
    """Seconds from the first datetime to the second, the same on SQLite and PostgreSQL."""
    type = sa.Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between)
def _seconds_between_pg(element: Any, compiler: Any, **kw: Any) -> str:
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({b} - {a}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    a, b = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({b}) - julianday({a})) * 86400.0)"


def _system_now() -> datetime:
    return datetime.now(timezone.utc)


_clock: Callable[[], datetime] = _system_now


def now() -> datetime:
    """The current time in UTC; tests replace the clock with `set_clock`."""
    return _clock()


def set_clock(clock: Callable[[], datetime] | None) -> None:
    global _clock
    _clock = clock or _system_now


class add_seconds(FunctionElement):  # noqa: N801
    """A datetime column moved on by a constant number of seconds (comparable with stored datetimes)."""
    type = sa.DateTime()
    name = "add_seconds"
    inherit_cache = True


@compiles(add_seconds)
def _add_seconds_pg(element: Any, compiler: Any, **kw: Any) -> str:
    col, secs = (compiler.process(c, **kw) for c in element.clauses)
    return f"({col} + {secs} * INTERVAL '1 second')"


@compiles(add_seconds, "sqlite")
def _add_seconds_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff'; %f gives SS.SSS, so pad to six digits
    col, secs = (compiler.process(c, **kw) for c in element.clauses)
    return f"(strftime('%Y-%m-%d %H:%M:%f', {col}, '+{secs} seconds') || '000')"
