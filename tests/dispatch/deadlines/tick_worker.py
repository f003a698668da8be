"""A separate process that ticks: `python tick_worker.py DB_URL NOW_ISO MODE [crash]`.

MODE "tick" runs core.scheduler.run_tick (lease/advisory lock first); MODE "jobs" calls the SLA
jobs directly, as a process that lost its lease would. With "crash" the process dies (os._exit)
after the first alert of a batch is flushed and before the commit. Prints the result as JSON.
"""
from __future__ import annotations

import json
import sys
import tempfile
from datetime import datetime


def main() -> None:
    url, at, mode = sys.argv[1], datetime.fromisoformat(sys.argv[2]), sys.argv[3]
    crash = len(sys.argv) > 4 and sys.argv[4] == "crash"
    from app import create_app
    from core.db import set_clock
    from core.scheduler import run_tick

    set_clock(lambda: at)
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "x",
                      "INSTANCE_PATH": tempfile.mkdtemp(), "SCHEDULER_ENABLED": False,
                      "SLA_CRASH_AFTER_FIRST_ALERT": crash})
    if mode == "tick":
        result = run_tick(app)
    else:
        from dispatch.deadlines import jobs
        with app.app_context():
            result = {"deadline_warnings": jobs.deadline_warnings(), "escalations": jobs.escalations()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
