"""Who may use the supervisor board and the incident pages (endpoint → roles)."""
STAFF = {"supervisor", "dispatcher", "admin"}

ROUTES = {
    "dispatch_board.index": STAFF,
    "dispatch_board.acknowledge": {"supervisor", "admin"},
    "dispatch_board.incidents": STAFF,
    "dispatch_board.incident": STAFF,
    "dispatch_board.resolve_incident": STAFF,
    "dispatch_board.incident_settings": {"admin"},
}
