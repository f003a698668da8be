"""Engine set-up per dialect, and the one commit at the edge of each request."""
from __future__ import annotations

import logging
from typing import Callable

from flask import Flask, before_render_template
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction
from werkzeug.routing import IntegerConverter

from core.errors import database_unavailable, json_error, request_refused, unavailable_response, wants_json
from core.extensions import db

log = logging.getLogger(__name__)
_AFTER_COMMIT = "after_commit"  # session.info key: [(transaction, callback), ...]


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
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn) -> None:
    if conn.dialect.name == "sqlite":
        # IMMEDIATE takes the write lock up front, so two connections that read and then write
        # queue behind each other (busy_timeout) instead of one failing on a stale snapshot.
        # Hence: never open a second connection while the session holds a transaction.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def after_commit(callback: Callable[[], None]) -> None:
    """Run `callback` once the session's transaction has committed (a file written to disk).

    Registered inside a savepoint, it goes with the savepoint if that rolls back; a rolled
    back or failed transaction runs none. A callback that fails is logged: the data is saved.
    """
    session = db.session()
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_AFTER_COMMIT, []).append((transaction, callback))


def _within(transaction: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released (SQLAlchemy 2.1 calls this hook for those too): not yet committed
    for _transaction, callback in session.info.pop(_AFTER_COMMIT, []):
        try:
            callback()
        except Exception:  # noqa: BLE001  (committed is committed; say what is missing)
            log.exception("after-commit step failed")


@event.listens_for(Session, "after_soft_rollback")
def _drop_after_commit(session: Session, previous_transaction: SessionTransaction) -> None:
    pending = session.info.get(_AFTER_COMMIT)
    if pending:
        session.info[_AFTER_COMMIT] = [(t, c) for t, c in pending if not _within(t, previous_transaction)]


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


class DatabaseInt(IntegerConverter):
    """`<int:id>` limited to the database's INTEGER range, so an absurd id is a 404, not an overflow."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002  (werkzeug's name)
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def register(app: Flask) -> None:
    app.url_map.converters["int"] = DatabaseInt

    @before_render_template.connect_via(app)
    def _refused_shows_saved_state(_sender, **_extra) -> None:
        """A page rendered after a caught refusal shows what is saved, not the half change."""
        if request_refused():
            db.session.rollback()

    @app.after_request
    def commit_request(response):
        """Services never commit; the request does, once, when it went well.

        A refusal changes nothing: an error status, or a DomainError made during the request
        (core.errors) even if a view caught it and answered 2xx/3xx. Login attempts are the one
        deliberate exception: the login views commit them before refusing, so they count.
        Files waiting for the commit (`after_commit`) are written only once it has succeeded.
        """
        if response.status_code >= 400 or request_refused():
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
        except sa_exc.DBAPIError as err:  # after_request errors bypass the error handlers: answer here
            try:
                db.session.rollback()
            except sa_exc.DBAPIError:  # the connection is gone; the pool replaces it
                db.session.remove()
            if not database_unavailable(err):
                raise
            app.logger.warning("database unavailable at commit: %s", type(err.orig).__name__)
            return unavailable_response(app)
        return response
