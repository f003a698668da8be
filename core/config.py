"""Settings: these defaults, then instance/config.py, then FLASK_* environment variables."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


class Config:
    SQLALCHEMY_DATABASE_URI: str | None = None  # None: restore24.db in the instance folder
    # hide_parameters: database errors and their tracebacks show the SQL, never the values (names, phones)
    SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    SECRET_KEY: str | None = None  # None: generated once into the instance folder
    TIMEZONE = "Asia/Shanghai"
    LANGUAGES = ["en", "zh_CN"]
    BABEL_DEFAULT_LOCALE = "en"
    # one catalogue per package (each of dispatch's four domains too), merged at run time
    BABEL_TRANSLATION_DIRECTORIES = ";".join(
        str(path) for pkg in ("core", "dispatch/orders", "dispatch/deadlines", "dispatch/reports",
                              "dispatch/livemap", "field", "inventory")
        for path in sorted((PACKAGE_ROOT / pkg).glob("translations*")))

    # Web hardening
    MAX_CONTENT_LENGTH = 2 * 1024 * 1024  # JSON and forms; uploads raise it per route
    UPLOAD_MAX_BYTES = 16 * 1024 * 1024
    TRUSTED_HOSTS: list[str] | None = None
    # Where the public reaches the app ("https://restore24.example.org"): links sent out of the
    # app (customer survey links) are built on it, never on the request's Host header. Without
    # it, SERVER_NAME or TRUSTED_HOSTS must be set in production (a warning at start-up).
    PUBLIC_BASE_URL: str | None = None
    PROXY_FIX_HOPS = 0  # set to the number of reverse proxies in front, to trust X-Forwarded-*
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False  # also secure whenever the request itself came over HTTPS
    PERMANENT_SESSION_LIFETIME = 12 * 3600
    WTF_CSRF_TIME_LIMIT = 12 * 3600
    WTF_CSRF_CHECK_DEFAULT = False  # core.access checks it, so bearer-token calls can skip it

    # Accounts: failed logins are counted per (user, address) pair, not per user alone, so
    # someone guessing elsewhere cannot lock the user out; and per address, for a spray of names
    LOGIN_MAX_FAILURES_PER_USER_AND_ADDRESS = 5
    LOGIN_MAX_FAILURES_PER_ADDRESS = 20
    LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60
    API_TOKEN_LIFETIME_HOURS = 24 * 30

    # Technicians' positions are personal data: deleted after this many days
    POSITION_RETENTION_DAYS = 30

    # Map
    TILES_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    TILES_ATTRIBUTION = "&copy; OpenStreetMap contributors"

    # Geocoding (geopy Nominatim)
    GEOCODER_DOMAIN = "nominatim.openstreetmap.org"
    GEOCODER_SCHEME = "https"
    GEOCODER_TIMEOUT = 5
    GEOCODER_MIN_DELAY_SECONDS = 1.0
    GEOCODER_BATCH = 10  # addresses the geocoder job looks up per tick
    GEOCODER_MAX_ATTEMPTS = 3  # then the order waits for a dispatcher to pin it
    GEOCODER_RETRY_SECONDS = 60  # before the second try; doubled for each further one
    GEOCODER_USER_AGENT = "restore24"

    # Intake: a point farther than this from every station's area is refused as outside the
    # service area unless the dispatcher confirms it (dispatch/orders/services/intake.py)
    OUTSIDE_AREA_KM = 5.0

    # Push
    PUSH_ALLOWED_ORIGINS = [
        "https://fcm.googleapis.com",
        "https://updates.push.services.mozilla.com",
        "https://web.push.apple.com",
        "https://wns2-by3p.notify.windows.com",
        "https://db5p.notify.windows.com",
    ]
    VAPID_SUBJECT = "mailto:ops@example.org"

    # Technicians' positions are personal data: deleted after this many days
    POSITION_RETENTION_DAYS = 30

    # Map
    MAP_POLL_SECONDS = 15  # the dispatcher's map refreshes its orders this often

    # Callbacks (after-job survey)
    CALLBACK_DUE_HOURS = 48  # a resolved order's callback is due this long after resolution
    CALLBACK_MAX_ATTEMPTS = 3  # unreachable after this many tries: closed as unreachable
    CALLBACK_UNHAPPY_ACTION = "reopen"  # or "complaint_visit"
    CALLBACK_LINK_DAYS = 7  # a customer's one-time survey link expires after this
    CALLBACK_COMPLAINT_CATEGORY = "VISIT-COMPLAINT"

    # Scheduler
    SCHEDULER_ENABLED = False
    SCHEDULER_INTERVAL_SECONDS = 60
    # SQLite: a writer waits this long for another's write lock, then the request is a 503 with
    # Retry-After (core.errors); keep it below gunicorn's timeout (30 s) so the wait is answered
    SQLITE_BUSY_TIMEOUT_SECONDS = 10.0
    WORKER_POLL_SECONDS = 0.5  # SQLite: a worker looks for other processes' alerts this often (PostgreSQL: NOTIFY)

    # Operations (core/ops.py): /metrics is read with this bearer token; unset, only from this host
    METRICS_TOKEN: str | None = None
    REQUEST_LOG = True  # one line per request on the restore24.request logger
    REQUEST_LOG_JSON = False  # that line as a JSON object
    WORKER_METRICS_PORT: int | None = None  # `flask worker` serves its own /metrics (ticks, jobs) on this port
    WORKER_METRICS_HOST = "127.0.0.1"


def _instance_secret(app: Flask) -> str:
    """A secret generated once and kept in the instance folder, readable by the owner only."""
    path = Path(app.instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load_config(app: Flask, overrides: dict[str, Any] | None = None) -> None:
    app.config.from_object(Config)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env()
    if overrides:
        app.config.update(overrides)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(Path(app.instance_path) / "restore24.db")
    if not app.config.get("SECRET_KEY"):
        try:
            app.config["SECRET_KEY"] = _instance_secret(app)
        except FileExistsError:  # another process wrote it first
            app.config["SECRET_KEY"] = _instance_secret(app)
    # an instance file that sets its own engine options keeps the values out of errors too, unless it says otherwise
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"hide_parameters": True, **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # SQLite waits for the writer instead of failing at once (see core.database pragmas)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            "connect_args": {"timeout": float(app.config["SQLITE_BUSY_TIMEOUT_SECONDS"])},
        }
