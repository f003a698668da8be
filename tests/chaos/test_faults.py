"""Faults under load, CI-sized: gunicorn (3 web workers) + 2 `flask worker` on a private
PostgreSQL cluster, a few concurrent writers, and during the load one kill -9 of a web worker,
one of a job worker and one PostgreSQL restart. Then every answer the writers got is checked
against the database (bench/load/chaos.py `check`: acknowledged writes there exactly once,
refused ones absent, ledger = levels, no alert or escalation doubled, no 500).

PostgreSQL only (it restarts a server): left out of the SQLite pass, run in the PostgreSQL pass.
It never touches TEST_POSTGRES_URL's server: its cluster is its own, in a temporary folder.
The longer version (three kills of each) is `bench/load/chaos.py`.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "load"))

import chaos  # noqa: E402
from stack import PG_BIN  # noqa: E402

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]


def _free_port(ports: range) -> int:
    """A port of the range nothing listens on (two suites may run at once on one machine)."""
    import socket

    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port in {ports}")


def test_kills_and_a_database_restart_lose_and_double_nothing(capsys):
    if not (PG_BIN / "initdb").exists() or (shutil.which("runuser") is None and os.geteuid() == 0):
        pytest.fail(f"the chaos test needs PostgreSQL's server programs in {PG_BIN} (set PG_BIN)")
    pg_port, web_port = _free_port(range(5642, 5650)), _free_port(range(5632, 5640))
    figures, problems, _stack = chaos.run(pg_port, web_port, seconds=16, kills=1, web_workers=3, job_workers=2)
    with capsys.disabled():
        print("\nchaos (CI size):", {k: figures[k] for k in sorted(figures)})
    assert not problems, "\n".join(problems)
    # the run did what it claims: faults happened, and writes of every kind were acknowledged
    assert figures["web_worker_kills"] == 1 and figures["job_worker_kills"] == 1
    for kind in ("order", "transition", "move"):
        assert figures.get(f"{kind} acknowledged", 0) > 0, figures
    assert figures["escalations (sla_alerts)"] > 0, "the overdue orders were never escalated"
