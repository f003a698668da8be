"""The production shape on one machine, for the load, soak and fault runs (and tests/chaos):
a private PostgreSQL cluster (or a given database), gunicorn with N web workers and M
`flask worker` processes, started from this checkout's .venv, with helpers to kill -9 them
and restart PostgreSQL.

Never touches the machine's own PostgreSQL server beyond creating/dropping the named database.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))


LEAN_DEMO = """
import contextlib
from app import create_app
from core import auth, stations
from core.extensions import db
from dispatch.orders import demo as order_demo, services as orders
from inventory import services as inventory
from inventory.cli import CATALOGUE
app = create_app()
progress = lambda items, label: contextlib.nullcontext(items)
with app.app_context():
    for name, step in app.extensions["restore24_demo_steps"]:
        if name == "orders":
            orders.ensure_reference_data()
            order_demo.load_duty(24)
        elif name == "inventory":  # the plain items only, stocked in the stores: the full step takes minutes
            admin = auth.find_user("admin")
            for sku, iname, cat, unit, serial, cost, rp, rq, vrp, *_ in CATALOGUE:
                if not serial:
                    inventory.save_item(sku=sku, name=iname, category=cat, unit=unit, unit_cost=cost,
                                        reorder_point=rp, reorder_qty=rq, van_reorder_point=vrp, actor=admin)
            inventory.ensure_locations()
            for st in stations.all_stations():
                for sku in ("CON-F", "SPL-2W", "PSU-12V"):
                    inventory.receive_batch(sku, inventory.store_of(st.id).code, admin, qty=200, reason="initial stock")
        elif name != "customers":
            step(seed=24, progress=progress, size="small")
        db.session.commit()
"""


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


class PrivateCluster:
    """initdb + pg_ctl in a temporary folder, trust auth, listening on 127.0.0.1:port only."""

    def __init__(self, port: int, folder: str | None = None):
        self.port = port
        self.folder = Path(folder or tempfile.mkdtemp(prefix="r24-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "postgres.log"

    def _as_owner(self) -> list[str]:
        """PostgreSQL refuses to run as root: then the cluster belongs to the postgres account."""
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self) -> "PrivateCluster":
        if not self.data.exists():
            if os.geteuid() == 0:
                shutil.chown(self.folder, "postgres", "postgres")
            subprocess.run([*self._as_owner(), str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                            "-A", "trust", "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
        self._ctl("start", "-w", "-l", str(self.log), "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                  "-c shared_buffers=64MB")
        return self

    def restart(self) -> None:
        """A fast shutdown (every session is cut) and start: what an operator's restart does."""
        self._ctl("restart", "-w", "-m", "fast", "-l", str(self.log), "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                  "-c shared_buffers=64MB")

    def stop(self) -> None:
        if self.data.exists():
            self._ctl("stop", "-w", "-m", "fast", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run([*self._as_owner(), str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args], check=check,
                       capture_output=True, timeout=120)


def create_database(url: str) -> None:
    """Drop and create the database of `url` on its server (never the server's others)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def drop_database(url: str) -> None:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class Stack:
    """gunicorn (web) + `flask worker` processes on one database."""

    database_url: str
    port: int
    web_workers: int = 4
    job_workers: int = 2
    instance: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="r24-stack-")))
    extra_env: dict[str, str] = field(default_factory=dict)
    web: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    restarts: dict[str, int] = field(default_factory=lambda: {"web_worker_kills": 0, "job_worker_kills": 0})
    _logs: list = field(default_factory=list)

    def _log(self, name: str):
        fh = open(self.instance / name, "ab")  # noqa: SIM115  (closed in stop, after the process)
        self._logs.append(fh)
        return fh

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "TEST_"))}
        env.update({
            "PATH": f"{BIN}:{env.get('PATH', '')}",
            "FLASK_APP": "app",
            "FLASK_SQLALCHEMY_DATABASE_URI": self.database_url,
            "FLASK_SECRET_KEY": "restore24-load-secret",
            "FLASK_SCHEDULER_ENABLED": "false",
            "FLASK_GEOCODER_DOMAIN": "",  # no internet: orders carry their point
            "FLASK_PUBLIC_BASE_URL": self.base,
            "FLASK_REQUEST_LOG": "false",
            "FLASK_PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",  # logins of many simulated users
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def flask(self, *args: str, timeout: float = 900) -> str:
        done = subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=self.env(), capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"flask {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return done.stdout

    def prepare(self, demo_size: str = "full") -> None:
        """The schema and the demo city; "lean" is the city without customers and past orders
        (stations, staff on duty, categories, resolution codes, stock): quick enough for CI."""
        self.flask("db", "upgrade")
        if demo_size != "lean":
            self.flask("demo", "--force", "--size", demo_size)
            return
        done = subprocess.run([str(BIN / "python"), "-c", LEAN_DEMO], cwd=ROOT, env=self.env(), capture_output=True,
                              text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"lean demo failed:\n{done.stderr[-4000:]}")

    def start(self) -> "Stack":
        env = self.env()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(self.instance / "prometheus")
        self.web = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", str(ROOT / "deploy" / "gunicorn.conf.py"), "--workers",
             str(self.web_workers), "--bind", f"127.0.0.1:{self.port}", "app:create_app()"],
            cwd=ROOT, env=env, stdout=self._log("web.log"), stderr=subprocess.STDOUT,
            start_new_session=True)
        for i in range(self.job_workers):
            self.workers.append(self._start_worker(i))
        _wait(self._healthy, 120, "gunicorn to answer /healthz")
        _wait(lambda: len(self.web_pids()) >= self.web_workers, 60, "gunicorn's workers")
        return self

    def _start_worker(self, i: int) -> subprocess.Popen:
        return subprocess.Popen([str(BIN / "flask"), "worker"], cwd=ROOT, env=self.env(),
                                stdout=self._log(f"worker-{i}.log"), stderr=subprocess.STDOUT,
                                start_new_session=True)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=2) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def web_pids(self) -> list[int]:
        """gunicorn's worker processes (the master's children)."""
        if not self.web:
            return []
        path = Path(f"/proc/{self.web.pid}/task/{self.web.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self.workers if p.poll() is None]

    def kill_web_worker(self) -> int:
        """kill -9 one gunicorn worker (mid-request, likely); the master forks a new one."""
        before = self.web_pids()
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        self.restarts["web_worker_kills"] += 1
        _wait(lambda: victim not in self.web_pids() and len(self.web_pids()) >= self.web_workers, 60,
              "gunicorn to replace the killed worker")
        return victim

    def kill_job_worker(self, i: int = 0) -> int:
        """kill -9 a `flask worker` and start another in its place (what systemd's Restart= does)."""
        victim = self.workers[i]
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        self.restarts["job_worker_kills"] += 1
        self.workers[i] = self._start_worker(i)
        return victim.pid

    def all_pids(self) -> dict[str, int]:
        pids = {"gunicorn-master": self.web.pid} if self.web else {}
        pids.update({f"web-{n}": pid for n, pid in enumerate(self.web_pids())})
        pids.update({f"worker-{n}": pid for n, pid in enumerate(self.worker_pids())})
        return pids

    def stop(self) -> None:
        procs = ([self.web] if self.web else []) + self.workers
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for fh in self._logs:
            fh.close()
        self._logs.clear()

    def remove(self) -> None:
        """The instance folder (logs, metrics files) once they are no longer wanted."""
        shutil.rmtree(self.instance, ignore_errors=True)

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.instance.glob("*.log")))


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


if __name__ == "__main__":  # a smoke check: python bench/load/stack.py PORT_PG PORT_WEB
    pg = PrivateCluster(int(sys.argv[1])).start()
    url = pg.url("restore24_stack")
    try:
        create_database(url)
        stack = Stack(url, int(sys.argv[2]), web_workers=2, job_workers=1)
        t = time.monotonic()
        stack.prepare("small")
        print(f"prepared in {time.monotonic() - t:.1f} s")
        stack.start()
        print("pids", stack.all_pids())
        stack.stop()
    finally:
        pg.stop()
