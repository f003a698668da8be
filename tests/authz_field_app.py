"""Who may call each route of the technicians' app (issue 6; see tests/authz_core.py)."""
ROUTES = {
    "field.duty": {"technician"},
    "field.position": {"technician"},
    "field.order_link": {"technician"},
    "field.job": {"technician"},
    "field.reveal": {"technician"},
    "field.act": {"technician"},
    "field.resolve": {"technician"},
    "field.photo": {"technician", "dispatcher", "supervisor", "admin"},
    "field.sync_queue": {"technician"},
    "field.offline": {"technician"},
    "field.van": {"technician"},
}
