"""gunicorn settings for Restore24's web processes: `gunicorn -c deploy/gunicorn.conf.py "app:create_app()"`.

The web processes run no periodic jobs (SCHEDULER_ENABLED stays false): `flask worker` does.
Metrics: with PROMETHEUS_MULTIPROC_DIR set, every gunicorn worker writes its counters there and
/metrics adds them up; the folder is emptied when gunicorn starts and a dead worker's live
gauges are dropped (prometheus-client's multiprocess mode). Give the folder to gunicorn alone.
"""
import glob
import os

bind = os.environ.get("RESTORE24_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
accesslog = None  # the app logs one line per request itself (restore24.request), with its request id
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def on_starting(server):
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for stale in glob.glob(os.path.join(path, "*.db")):  # the last run's values
            os.remove(stale)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
