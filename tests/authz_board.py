"""Who may use the supervisor board and the incident pages (endpoint → roles)."""
STAFF = {"supervisor", "dispatcher", "admin"}

ROUTES = {
    "dispatch_board.index": STAFF,
    "dispatch_board.acknowledge": {"supervisor", "admin"},
    "dispatch_board.incidents": STAFF,
    "dispatch_board.incident": STAFF,
    "dispatch_board.resolve_incident": STAFF,
    "dispatch_board.incident_settings": {"admin"},
    "dispatch_board.acknowledge_selected": {"supervisor", "admin"},
    "dispatch_board.sla_policies": {"admin"},
    "dispatch_board.sla_policy_new": {"admin"},
    "dispatch_board.sla_policy_edit": {"admin"},
}
