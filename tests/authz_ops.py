"""Who may call the operations routes (core/ops.py): probes and scrapers, no login.
/metrics checks its own token or the caller's address (tests/core/test_ops.py)."""
ROUTES = {
    "ops.healthz": "public",
    "ops.readyz": "public",
    "ops.metrics_view": "public",
}
