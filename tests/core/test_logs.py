"""Personal data kept out of the logs: access-log query strings, phone numbers, database row details."""
from __future__ import annotations

import http.client
import logging
import threading
from datetime import timedelta
from types import SimpleNamespace

import pytest
from werkzeug.serving import make_server

from core import logs
from core.access import public
from core.customers import Customer
from core.extensions import db

PHONE, NAME, ADDRESS = "13800138000", "Wang Fang", "1 Shennan Rd"


@pytest.mark.parametrize("text, clean", [
    ('"GET /api/v1/orders?q=13800138000&page=2 HTTP/1.1" 200 -', '"GET /api/v1/orders?q=***&page=2 HTTP/1.1" 200 -'),
    ("/search?q=8+Fuhua+Road&format=json", "/search?q=***&format=json"),
    ("GET /dispatch/?queue=open&Q=Wang%20Fang", "GET /dispatch/?queue=open&Q=***"),
    ("q=1380___8002", "q=***"),
    ("call 13800138000 or 138 0013 8000", "call 138****8000 or 138****8000"),
    ("+8613800138000, 008613800138000", "+86138****8000, +86138****8000"),
    ("[parameters: ('Wang Fang', '13800138000')]", "[parameters: ***]"),
    ("DETAIL:  Failing row contains (1, 8800000001, Wang Fang).", "DETAIL:  ***"),
    # left alone: order numbers, times, coordinates, ids, other parameters
    ("RO-20260302-0001 at 2026-03-02T09:00:00+08:00, lat 22.13912345678, faq=1&page=2",
     "RO-20260302-0001 at 2026-03-02T09:00:00+08:00, lat 22.13912345678, faq=1&page=2"),
])
def test_scrub(text, clean):
    assert logs.scrub(text) == clean


def test_every_record_is_cleaned_whichever_logger_made_it(app, caplog):
    other = logging.getLogger("some.library")
    with caplog.at_level(logging.DEBUG):
        other.debug("GET /api/v1/orders?q=%s", PHONE)
        other.info("customer %(phone)s", {"phone": PHONE})
        other.warning("nothing personal here: %d%%", 50)
    assert PHONE not in caplog.text and "q=***" in caplog.text and "138****8000" in caplog.text
    assert caplog.records[2].getMessage() == "nothing personal here: 50%"
    logs.install()  # again: the factory is not wrapped twice
    with caplog.at_level(logging.INFO):
        other.info("once %s", PHONE)
    assert caplog.records[-1].getMessage() == "once 138****8000"
    raw = logging.LogRecord("x", logging.INFO, __file__, 1, "raw %s", (PHONE,), None)  # made without the factory
    assert logs.PersonalDataFilter().filter(raw) and raw.getMessage() == "raw 138****8000"


def test_werkzeug_access_log_drops_the_search(app, caplog):
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        conn.request("GET", f"/api/v1/orders?q={PHONE}&page=1")
        assert conn.getresponse().status == 401
        conn.close()
        thread.join(10)
    server.server_close()
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("GET /api/v1/orders?q=***&page=1 HTTP/1.1" in line for line in lines), lines
    assert PHONE not in caplog.text


def test_gunicorn_access_log_drops_the_search(app, tmp_path):
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("access_log_format", '%(h)s "%(r)s" %(s)s "%(f)s" q=%(q)s')
    glog = Logger(cfg)
    try:
        environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"/api/v1/orders?q={PHONE}", "QUERY_STRING": f"q={PHONE}",
                   "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.1",
                   "HTTP_REFERER": f"https://r24.example.org/dispatch/?q={PHONE}"}
        glog.access(SimpleNamespace(status="200 OK", sent=10, headers=[]), SimpleNamespace(headers=[]), environ,
                    timedelta(milliseconds=5))
    finally:
        for name in ("gunicorn.access", "gunicorn.error"):
            for handler in logging.getLogger(name).handlers[:]:
                handler.close()
                logging.getLogger(name).removeHandler(handler)
    line = (tmp_path / "access.log").read_text()
    assert line.startswith('10.0.0.1 "GET /api/v1/orders?q=*** HTTP/1.1" 200 "https://r24.example.org/dispatch/?q=***"')
    assert PHONE not in line


def test_a_database_error_traceback_shows_neither_values_nor_row(new_app, caplog):
    """The row breaks a check constraint: SQLite's error names it, PostgreSQL's also prints the failing
    row; the statement's parameters would carry the name, phone and address."""
    boom = new_app()

    @boom.route("/boom")
    @public
    def insert_a_bad_row():
        db.session.add(Customer(account_no="8800000001", name=NAME, phone=PHONE, address=ADDRESS, lat=91.0,
                                lon=114.0, district="", segment="residential", services=[]))
        db.session.flush()

    with caplog.at_level(logging.DEBUG):
        assert boom.test_client().get("/boom").status_code == 500
    logged = caplog.text
    assert "unhandled error on GET /boom" in logged and "IntegrityError" in logged and "point_in_range" in logged
    for secret in (PHONE, NAME, ADDRESS):
        assert secret not in logged, secret
