"""Restore24: `flask --app app ...`, or gunicorn "app:create_app()"."""
from __future__ import annotations

from typing import Any

from flask import Flask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    instance_path = (config or {}).get("INSTANCE_PATH")  # tests keep their own instance folder
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path)
    from core.config import load_config
    load_config(app, config)
    register_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_operations(app)
    register_errorhandlers(app)
    register_commands(app)
    register_jobs(app)
    start_scheduler(app)
    return app


def register_logging(app: Flask) -> None:
    from core import logs
    logs.install()  # phone numbers, searches and row details out of every log record (app, werkzeug, gunicorn)


def register_extensions(app: Flask) -> None:
    from core import database, i18n, links, security, sessions
    from core.access import register_access
    from core.extensions import babel, csrf, db, migrate

    db.init_app(app)
    database.register(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"), compare_type=True,
                     render_as_batch=True)  # SQLite alters tables by copying them
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    i18n.register_i18n(app)
    sessions.register(app)
    security.register_security(app)
    links.warn_if_unconfigured(app)  # links for customers need a configured host in production
    register_access(app)
    register_messages()


def register_messages() -> None:
    """The stored texts each package writes (codes rendered in the reader's language), and the words
    for the codes the audit log shows."""
    from core import messages
    from dispatch.deadlines.messages import MESSAGES as deadline_messages
    from dispatch.orders.messages import MESSAGES as order_messages
    from dispatch.reports.messages import MESSAGES as report_messages
    from inventory.messages import MESSAGES as stock_messages
    messages.register([order_messages, deadline_messages, report_messages, stock_messages])
    # the audit log shows these codes among an object's changes in words
    from core import audit
    from dispatch.orders.models import CHANNEL_LABELS, PRIORITY_LABELS, STATUS_LABELS
    audit.register_value_labels({"status": STATUS_LABELS, "channel": CHANNEL_LABELS, "priority": PRIORITY_LABELS})


def register_blueprints(app: Flask) -> None:
    from core.views import bp as core_bp
    from core.admin import bp as admin_bp
    from core.api import bp as core_api
    from dispatch.orders.views import bp as dispatch_bp
    from dispatch.orders.api import bp as dispatch_api
    from dispatch.deadlines.views import bp as board_bp
    from dispatch.livemap.views import bp as map_bp
    from dispatch.livemap.api import bp as map_api
    from dispatch.reports.api import bp as reports_api
    from dispatch.reports.views import bp as reports_bp
    from field.views import bp as field_bp, inbox_bp
    from field.api import bp as field_api
    from inventory.views import bp as inventory_bp
    from inventory.api import bp as inventory_api

    for bp in (core_bp, admin_bp, core_api, dispatch_bp, dispatch_api, field_bp, field_api,
               inventory_bp, inventory_api, inbox_bp, map_bp, map_api, reports_api, reports_bp, board_bp):
        app.register_blueprint(bp)


def register_operations(app: Flask) -> None:
    from core import ops
    ops.register(app)  # /healthz, /readyz, /metrics and the request log


def register_errorhandlers(app: Flask) -> None:
    from core.errors import register_errorhandlers as register
    register(app)


def register_commands(app: Flask) -> None:
    from core import cli, demo
    import dispatch.orders.cli, field.cli, inventory.cli  # noqa: E401

    # The demo city loads in this order: stations and staff before the domains' data.
    cli.register(app, demo_steps=[
        ("stations", demo.load_stations),
        ("staff", demo.load_staff),
        ("customers", demo.load_customers),
        ("orders", dispatch.orders.cli.load_orders),
        ("resolution codes", field.cli.load_resolution_codes),
        ("inventory", inventory.cli.load_inventory),
    ])
    for module in (dispatch.orders.cli, field.cli, inventory.cli):
        if hasattr(module, "register"):
            module.register(app)


def register_jobs(app: Flask) -> None:
    """The periodic jobs, in the order each tick runs them: push delivery last, so the
    alerts the other jobs raise leave in the same tick."""
    from core import auth, idempotency, outbox, scheduler, worker
    from dispatch.deadlines import jobs as deadline_jobs
    from dispatch.orders import jobs as order_jobs
    from field import jobs as field_jobs
    from inventory import jobs as inventory_jobs

    scheduler.register_jobs(app, [
        ("idempotency_purge", idempotency.purge_expired),
        ("session_purge", auth.purge_expired_sessions),
        ("deadline_warnings", deadline_jobs.deadline_warnings),
        ("escalations", deadline_jobs.escalations),
        ("incident_detection", deadline_jobs.incident_detection),
        ("position_retention", order_jobs.position_retention),
        ("loan_reminders", inventory_jobs.loan_reminders),
        ("geocode_addresses", order_jobs.geocode_addresses),  # network calls: after the SLA jobs, never in a transaction
        ("push_delivery", field_jobs.deliver_push_alerts),
    ])
    # what a commit that left the worker work wakes at once, each on a thread of its own so alerts never
    # wait for the geocoder (the tick above stays the safety net)
    worker.register_delivery(app, [
        worker.Lane("push_delivery", field_jobs.deliver_push_alerts, outbox.NEWEST_ALERT_SQL),
        worker.Lane("geocoding", order_jobs.geocode_addresses, order_jobs.NEWEST_GEOCODE_SQL),
    ])


def start_scheduler(app: Flask) -> None:
    from core.scheduler import start
    start(app)
