"""The app a `flask --app worker_app worker` subprocess runs in the tests: the test database and
instance folder (so the same VAPID key), with settings from the environment.

    R24_WORKER_DATABASE_URL, R24_WORKER_INSTANCE, R24_WORKER_PUSH_ORIGINS (JSON list),
    R24_WORKER_INTERVAL (seconds between ticks)
"""
from __future__ import annotations

import json
import os

from testsupport import make_app


def create_app():
    return make_app(os.environ["R24_WORKER_DATABASE_URL"], os.environ["R24_WORKER_INSTANCE"],
                    PUSH_ALLOWED_ORIGINS=json.loads(os.environ["R24_WORKER_PUSH_ORIGINS"]),
                    SCHEDULER_INTERVAL_SECONDS=float(os.environ.get("R24_WORKER_INTERVAL", "3600")))
