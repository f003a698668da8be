"""Soak: a tenth of peak (2 intakes/s in the same mix) for a long time, sampling each process's
memory, the latency of a probe and PostgreSQL's connection count; prints the growth.

    .venv/bin/python bench/load/soak.py                    # 2 hours, a sample a minute
    .venv/bin/python bench/load/soak.py --minutes 8 --sample-seconds 30

Goals: RSS of every process grows < 10 % from the first sample after warm-up to the last;
the probe's p95 does not drift (last interval / first < 1.5); connections stay bounded
(no more at the end than the highest seen in the first half: no leak).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos import Client  # noqa: E402
from stack import BIN, ROOT, PrivateCluster, Stack, create_database, drop_database, rss_kib  # noqa: E402


def pg_connections(url: str) -> int:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    target = make_url(url)
    engine = sa.create_engine(target.set(database="postgres"), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"),
                         {"d": target.database}).scalar_one()
    engine.dispose()
    return int(n)


def open_orders(url: str) -> int:
    """Open orders: the map feed's size, which grows when the mix takes orders faster than it closes them."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM repair_orders WHERE status NOT IN "
                                 "('resolved', 'closed', 'cancelled')")).scalar_one()
    engine.dispose()
    return int(n)


def probe(client: Client, n: int = 10) -> list[float]:
    times = []
    for path in ["/api/v1/orders.geojson", "/api/v1/orders?per_page=20"] * (n // 2):
        t = time.perf_counter()
        a = client.call("GET", path)
        if a.status == 200:
            times.append((time.perf_counter() - t) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120)
    parser.add_argument("--sample-seconds", type=float, default=60)
    parser.add_argument("--warmup-samples", type=int, default=1, help="samples left out of the growth figure")
    parser.add_argument("--intake-rate", type=float, default=2.0)
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/restore24_soak")
    parser.add_argument("--private-cluster", type=int, metavar="PORT")
    parser.add_argument("--port", type=int, default=5634)
    parser.add_argument("--demo-size", choices=("full", "small"), default="full")
    args = parser.parse_args()

    cluster = PrivateCluster(args.private_cluster).start() if args.private_cluster else None
    url = cluster.url("restore24_soak") if cluster else args.database
    out = Path(tempfile.mkdtemp(prefix="r24-soak-"))
    stack = loadgen = None
    try:
        create_database(url)
        stack = Stack(url, args.port, web_workers=4, job_workers=2)
        stack.prepare(args.demo_size)
        stack.start()
        env = {**os.environ, "R24_INTAKE_RATE": str(args.intake_rate), "R24_MAP_SCREENS": "2",
               "R24_TECHNICIANS": "6", "R24_LOAD_RESULT": str(out / "statuses.json")}
        users = round(args.intake_rate) + 2 + 2 + 6 + 4 + 4
        loadgen = subprocess.Popen(
            [str(BIN / "locust"), "-f", str(Path(__file__).with_name("locustfile.py")), "--headless", "--host",
             stack.base, "-u", str(users), "-r", "5", "-t", f"{int(args.minutes * 60) + 30}s", "--csv",
             str(out / "soak"), "--only-summary", "--loglevel", "WARNING"],
            cwd=ROOT, env=env, stdout=(out / "locust.log").open("wb"), stderr=subprocess.STDOUT)
        client = Client.login(stack.base, "dispatch-2")
        samples = []
        end = time.monotonic() + args.minutes * 60
        print(f"soak: {args.minutes:g} min at {args.intake_rate:g} intakes/s; a sample every {args.sample_seconds:g} s",
              flush=True)
        while time.monotonic() < end:
            time.sleep(args.sample_seconds)
            times = probe(client)
            rss = {name: rss_kib(pid) for name, pid in stack.all_pids().items()}
            sample = {"t": round(args.minutes * 60 - (end - time.monotonic())), "rss": rss,
                      "p50": statistics.median(times) if times else None,
                      "p95": sorted(times)[int(0.95 * (len(times) - 1))] if times else None,
                      "connections": pg_connections(url), "open_orders": open_orders(url)}
            samples.append(sample)
            total = sum(v or 0 for v in rss.values()) // 1024
            print(f"t={sample['t']:>5}s rss total {total} MiB probe p50 {sample['p50']:.0f} ms "
                  f"p95 {sample['p95']:.0f} ms pg connections {sample['connections']} open orders {sample['open_orders']}",
                  flush=True)
        loadgen.terminate()
        loadgen.wait(60)
        return summarise(samples, args.warmup_samples, out)
    finally:
        if loadgen and loadgen.poll() is None:
            loadgen.kill()
        if stack:
            stack.stop()
        if cluster:
            cluster.stop()
        else:
            drop_database(url)


def summarise(samples: list[dict], warmup: int, out: Path) -> int:
    if len(samples) <= warmup + 1:
        print("too few samples for a growth figure")
        return 1
    first, last = samples[warmup], samples[-1]
    ok = True
    print(f"\ngrowth from t={first['t']} s to t={last['t']} s:")
    for name in sorted(first["rss"]):
        a, b = first["rss"].get(name), last["rss"].get(name)
        if not a or not b:
            print(f"  {name:<16} replaced during the run (pid changed)")
            continue
        growth = 100 * (b - a) / a
        ok = ok and growth < 10
        print(f"  {name:<16} {a / 1024:7.1f} MiB -> {b / 1024:7.1f} MiB  {growth:+5.1f} %")
    # medians of each half's p95: one sample on a shared machine says little
    kept = samples[warmup:]
    early = statistics.median(s["p95"] for s in kept[: len(kept) // 2] if s["p95"] is not None)
    late = statistics.median(s["p95"] for s in kept[len(kept) // 2:] if s["p95"] is not None)
    drift = late / (early or 1)
    ok = ok and drift < 1.5
    print(f"  probe p95, median of the first half {early:.0f} ms -> of the second half {late:.0f} ms (x{drift:.2f}); "
          f"open orders {first['open_orders']} -> {last['open_orders']}")
    half = samples[: max(warmup + 1, len(samples) // 2)]
    peak = max(s["connections"] for s in half)
    ok = ok and last["connections"] <= peak
    print(f"  pg connections {first['connections']} -> {last['connections']} (highest in the first half {peak})")
    statuses = out / "statuses.json"
    if statuses.exists():
        import json

        codes = json.loads(statuses.read_text())
        n5 = sum(v for c in codes.values() for k, v in c.items() if k.startswith("5"))
        total = sum(v for c in codes.values() for v in c.values())
        ok = ok and n5 == 0
        print(f"  requests {total}, 5xx {n5}")
    print("SOAK GOALS MET" if ok else "SOAK GOALS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
