"""Engine set-up per dialect, and the one commit at the edge of each request."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from werkzeug.routing import IntegerConverter

from core.errors import json_error, wants_json
from core.extensions import db


def _is_sqlite(dbapi_conn) -> bool:
    return type(dbapi_conn).__module__.startswith("sqlite3")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record) -> None:
    if _is_sqlite(dbapi_conn):
        # Let SQLAlchemy, not the driver, open transactions (see _sqlite_begin): otherwise a
        # SAVEPOINT that is a transaction's first statement commits everything on RELEASE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn) -> None:
    if conn.dialect.name == "sqlite":
        # IMMEDIATE takes the write lock up front, so two connections that read and then write
        # queue behind each other (busy_timeout) instead of one failing on a stale snapshot.
        # Hence: never open a second connection while the session holds a transaction.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


class DatabaseInt(IntegerConverter):
    """`<int:id>` limited to the database's INTEGER range, so an absurd id is a 404, not an overflow."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002  (werkzeug's name)
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def register(app: Flask) -> None:
    app.url_map.converters["int"] = DatabaseInt

    @app.after_request
    def commit_request(response):
        """Services never commit; the request does, once, when it went well."""
        if response.status_code >= 400:  # a refusal changes nothing (login attempts commit themselves)
            db.session.rollback()
            return response
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            app.logger.info("integrity conflict on commit", exc_info=True)
            if wants_json():
                return json_error(409, "conflict", "The change conflicts with another one; nothing was saved.")
            from flask import render_template
            return app.make_response((render_template(
                "error.html", status=409, message="The change conflicts with another one; nothing was saved."), 409))
        return response
