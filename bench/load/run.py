"""Peak load: gunicorn (4 workers, deploy/gunicorn.conf.py) + 2 `flask worker` on a fresh
PostgreSQL database loaded with the demo city, driven by bench/load/locustfile.py; prints
requests/s, p50/p95/p99 per request type and the 5xx count, checked against the goals.

    make load                                      # 10 minutes at 20 intakes/s on 127.0.0.1:5432/restore24_load
    .venv/bin/python bench/load/run.py --minutes 3 --intake-rate 5
    .venv/bin/python bench/load/run.py --private-cluster 5641   # its own PostgreSQL in a temp folder

Goals: no 5xx; intake p99 <= 300 ms and map feed p99 <= 500 ms at 20 intakes/s.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import BIN, ROOT, PrivateCluster, Stack, create_database, drop_database  # noqa: E402

INTAKE = "POST /orders (intake)"
MAP = "GET /orders.geojson (map feed)"
GOALS = {INTAKE: 300, MAP: 500}


def locust(stack: Stack, minutes: float, rate: float, out: Path, extra_env: dict[str, str]) -> tuple[Path, Path]:
    env = {**os.environ, "R24_INTAKE_RATE": str(rate), "R24_LOAD_RESULT": str(out / "statuses.json"), **extra_env}
    import importlib.util

    spec = importlib.util.spec_from_file_location("r24_locustfile", Path(__file__).with_name("locustfile.py"))
    users = 0
    old = dict(os.environ)
    os.environ.update(env)
    try:
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)  # type: ignore[union-attr]
        users = sum(getattr(mod, n).fixed_count for n in ("IntakeDispatcher", "ReassigningDispatcher", "MapScreen",
                                                           "Technician", "StockKeeper", "Supervisor"))
    finally:
        os.environ.clear()
        os.environ.update(old)
    cmd = [str(BIN / "locust"), "-f", str(Path(__file__).with_name("locustfile.py")), "--headless",
           "--host", stack.base, "-u", str(users), "-r", str(max(5, users // 5)), "-t", f"{int(minutes * 60)}s",
           "--csv", str(out / "load"), "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING"]
    subprocess.run(cmd, cwd=ROOT, env=env, check=False, timeout=minutes * 60 + 300)
    return out / "load_stats.csv", out / "statuses.json"


def report(stats_csv: Path, statuses_json: Path, rate: float, minutes: float) -> tuple[str, bool]:
    rows = list(csv.DictReader(stats_csv.open()))
    statuses = json.loads(statuses_json.read_text()) if statuses_json.exists() else {}
    lines = [f"{'request':<44} {'count':>7} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6} {'4xx':>5} {'5xx':>5} {'err':>4}"]
    total_4xx = total_5xx = total_err = 0
    p99 = {}
    for row in rows:
        name = row["Name"]
        codes = statuses.get(name, {})
        n4 = sum(v for k, v in codes.items() if k.startswith("4"))
        n5 = sum(v for k, v in codes.items() if k.startswith("5"))
        nerr = sum(v for k, v in codes.items() if not k[:1].isdigit() or k == "0")
        if name == "Aggregated":
            n4, n5, nerr = total_4xx, total_5xx, total_err
        else:
            total_4xx, total_5xx, total_err = total_4xx + n4, total_5xx + n5, total_err + nerr
        p99[name] = float(row["99%"] or 0)
        lines.append(f"{name[:44]:<44} {row['Request Count']:>7} {float(row['Requests/s']):>7.2f} {row['50%']:>6} "
                     f"{row['95%']:>6} {row['99%']:>6} {n4:>5} {n5:>5} {nerr:>4}")
    intake = next((r for r in rows if r["Name"] == INTAKE), None)
    intake_rate = float(intake["Requests/s"]) if intake else 0.0
    ok = total_5xx == 0 and total_err == 0
    lines.append("")
    lines.append(f"intakes/s reached: {intake_rate:.2f} (asked {rate:g}) over {minutes:g} min; 5xx: {total_5xx}; "
                 f"transport errors: {total_err}")
    for name, goal in GOALS.items():
        got = p99.get(name)
        met = got is not None and got <= goal
        ok = ok and met
        lines.append(f"goal {name}: p99 {got} ms <= {goal} ms: {'met' if met else 'NOT met'}")
    if intake_rate < 0.95 * rate:
        ok = False
        lines.append(f"goal rate: {rate:g} intakes/s NOT reached ({intake_rate:.2f})")
    lines.append("ALL GOALS MET" if ok else "GOALS NOT MET")
    return "\n".join(lines), ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--intake-rate", default="20",
                        help="orders taken per second (peak: 20); several, comma-separated, run one after another "
                             "on the same stack and database: --intake-rate 20,5")
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/restore24_load",
                        help="dropped and created afresh")
    parser.add_argument("--private-cluster", type=int, metavar="PORT", help="start a private PostgreSQL on PORT")
    parser.add_argument("--port", type=int, default=5631, help="gunicorn's port")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--job-workers", type=int, default=2)
    parser.add_argument("--demo-size", choices=("full", "small"), default="full")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args()

    cluster = PrivateCluster(args.private_cluster).start() if args.private_cluster else None
    url = cluster.url("restore24_load") if cluster else args.database
    out = Path(tempfile.mkdtemp(prefix="r24-load-"))
    stack = None
    try:
        create_database(url)
        stack = Stack(url, args.port, web_workers=args.web_workers, job_workers=args.job_workers)
        t = time.monotonic()
        stack.prepare(args.demo_size)
        print(f"demo ({args.demo_size}) loaded in {time.monotonic() - t:.0f} s; starting gunicorn x{args.web_workers} "
              f"+ {args.job_workers} workers", flush=True)
        stack.start()
        all_ok = True
        for rate in [float(r) for r in str(args.intake_rate).split(",")]:
            phase = out / f"rate-{rate:g}"
            phase.mkdir()
            print(f"\n== load: {args.minutes:g} min at {rate:g} intakes/s; figures in {phase}", flush=True)
            stats, statuses = locust(stack, args.minutes, rate, phase, {})
            text, ok = report(stats, statuses, rate, args.minutes)
            print(text, flush=True)
            (phase / "report.txt").write_text(text)
            all_ok = all_ok and ok
        return 0 if all_ok else 1
    finally:
        if stack:
            stack.stop()
        if cluster:
            cluster.stop()
        elif not args.keep:
            drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
