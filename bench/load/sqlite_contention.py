"""SQLite under contention: gunicorn with 4 workers + 1 `flask worker` on one SQLite file, 20
concurrent writers (intake, technicians' transitions, stock moves) for a while; then the same
checks as the fault run (every acknowledged write once, ledger = levels, no 500).

    .venv/bin/python bench/load/sqlite_contention.py --seconds 60

Goal: no 500; a writer waits for the lock (busy timeout, SQLITE_BUSY_TIMEOUT_SECONDS) and gets
a 503 with Retry-After only past it. Prints the answers by status and the write latency.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chaos  # noqa: E402
from stack import Stack  # noqa: E402


class TimedClient(chaos.Client):
    times: list[float] = []

    def call(self, method, path, body=None, key=None, timeout=30):
        t = time.perf_counter()
        a = super().call(method, path, body, key, timeout)
        if method == "POST":
            TimedClient.times.append((time.perf_counter() - t) * 1000)
        return a


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--port", type=int, default=5635)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="r24-sqlite-"))
    url = f"sqlite:///{folder}/restore24.db"
    stack = Stack(url, args.port, web_workers=4, job_workers=1)
    chaos.Client = TimedClient  # type: ignore[misc]
    try:
        stack.prepare("lean")
        stack.start()
        # 6 technicians' threads (S01, S02) + 1 stock keeper; the rest take orders
        load = chaos.Load(stack.base, intake=max(1, args.writers - 7), keepers=1).start()
        print(f"{len(load.threads)} writers against gunicorn x4 + 1 worker on SQLite for {args.seconds:g} s", flush=True)
        time.sleep(args.seconds)
        load.finish()
        figures, problems = chaos.check(url, load)
    finally:
        stack.stop()
    times = sorted(TimedClient.times)
    for name, value in sorted(figures.items()):
        print(f"{name:<40} {value}")
    if times:
        q = statistics.quantiles(times, n=100)
        print(f"write latency ms: p50 {q[49]:.0f} p95 {q[94]:.0f} p99 {q[98]:.0f} max {times[-1]:.0f}")
    print(f"writes/s acknowledged: {sum(1 for w in load.writes if w.acked) / args.seconds:.1f}")
    print("\n".join(["PROBLEMS:", *problems]) if problems else "every check passed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
