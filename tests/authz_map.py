"""Who may call each route of the dispatcher's live map (see tests/authz_core.py)."""
MAP = {"dispatcher", "supervisor", "admin"}

ROUTES = {
    "dispatch_map.index": MAP,
    "dispatch_map_api.orders_geojson": MAP,
    "dispatch_map_api.order_candidates": MAP,
}
