"""Engine set-up per dialect, and the one commit at the edge of each request."""
from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from werkzeug.routing import IntegerConverter

from core.errors import json_error, wants_json
from core.extensions import db


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_conn, _record) -> None:
    if type(dbapi_conn).__module__.startswith("sqlite3"):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


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
