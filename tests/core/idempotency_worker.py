"""A separate process that dies inside an idempotent write: `python idempotency_worker.py DB_URL AUTH KEY`.

It posts to a probe route with the Idempotency-Key, prints "claimed" once the key is claimed and the
write is under way, then waits to be killed (SIGKILL), as a web worker killed mid-request would be.
"""
from __future__ import annotations

import sys
import tempfile
import time
from typing import Any


def add_probe(app: Any, hang: bool = False) -> None:
    """POST /api/v1/probe: an idempotent write (one audit row); with hang, it stops halfway."""
    from flask import jsonify
    from flask_login import current_user

    from core import audit
    from core.access import allow_any_user
    from core.extensions import db
    from core.idempotency import idempotent

    @app.route("/api/v1/probe", methods=["POST"])
    @allow_any_user
    @idempotent
    def probe():
        audit.record("probe", "user", current_user.id)
        db.session.flush()
        if hang:
            print("claimed", flush=True)
            time.sleep(600)
        return jsonify(done=True), 201


def main() -> None:
    url, auth_header, key = sys.argv[1:4]
    from app import create_app

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x",
                      "INSTANCE_PATH": tempfile.mkdtemp(), "SCHEDULER_ENABLED": False})
    add_probe(app, hang=True)
    app.test_client().post("/api/v1/probe", json={"n": 1},
                           headers={"Authorization": auth_header, "Idempotency-Key": key})


if __name__ == "__main__":
    main()
