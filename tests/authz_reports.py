"""Who may call each scorecard and callback route (issue 9; see tests/authz_core.py)."""
STAFF = {"dispatcher", "supervisor", "admin"}
READERS = STAFF | {"technician"}

ROUTES = {
    "reports.index": READERS,
    "reports.export_csv": READERS,
    "reports.orders": READERS,
    "reports.callback_queue": STAFF,
    "reports.record_callback": STAFF,
    "reports.callback_link": STAFF,
    "reports.feedback": "public",
    "reports_api.order_callback": STAFF,
    "reports_api.report_kpis": READERS,
}
