"""One transaction edge: a DomainError in a request rolls back, wherever it is caught."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect

from core import audit
from core.access import public
from core.audit import AuditEvent
from core.errors import Conflict, DomainError
from core.extensions import db


def _refusing_blueprint() -> Blueprint:
    bp = Blueprint("edge_test", __name__)

    @bp.route("/edge-test/half-change", methods=["POST"])
    @public
    def half_change():
        audit.record("edge.test", "nothing", None)  # the first half of a change ...
        db.session.flush()
        try:
            raise Conflict("the second half is refused")  # ... a service refuses the rest
        except DomainError as err:
            flash(err.message, "error")  # caught, and answered with a redirect (a 302 used to commit)
            return redirect("/")

    return bp


def _audit_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "edge.test"))


def test_a_caught_refusal_after_a_flush_saves_nothing(new_app):
    app = new_app()
    app.register_blueprint(_refusing_blueprint())
    resp = app.test_client().post("/edge-test/half-change")
    assert resp.status_code == 302
    assert _audit_rows(app) == 0
