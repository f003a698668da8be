"""The audit log: written for logins and writes, append-only, browsable by admins."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from testsupport import USE_POSTGRES
from core.audit import AuditEvent
from core.extensions import db


def test_admin_browses_and_filters(client, make_user, login):
    admin = make_user("admin")
    other = make_user("dispatcher")
    client.post("/login", data={"username": other.username, "password": "wrong-pass"})
    login(admin)
    page = client.get("/admin/audit?action=login.failed").get_data(as_text=True)
    assert "login.failed" in page and "user.create" not in page
    page = client.get(f"/admin/audit?actor={admin.username}").get_data(as_text=True)
    assert 'data-action="login"' in page and "Logged in" in page  # the action in words (issue 15)
    assert client.get("/admin/audit?since=not-a-date").status_code == 422  # a clear refusal, not a silent filter


@pytest.mark.postgres_only
def test_postgres_refuses_changes_to_the_audit_log(ctx):
    db.session.add(AuditEvent(action="x.test"))
    db.session.commit()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.update(AuditEvent).values(action="tampered"))
    db.session.rollback()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        db.session.execute(sa.delete(AuditEvent))
    db.session.rollback()
    assert db.session.scalar(sa.select(AuditEvent.action)) == "x.test"


def test_database_kind_matches_the_run(ctx):
    assert (db.engine.dialect.name == "postgresql") == USE_POSTGRES
