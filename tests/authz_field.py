"""Who may call each field route (see tests/authz_core.py)."""
ROUTES = {
    "field.index": {"technician"},
    "field.service_worker": "public",  # static code the browser fetches for /field/ (no data)
    "field_api.vapid_public_key": "any",
    "field_api.subscribe": "any",
    "field_api.unsubscribe": "any",
    "inbox.notifications": "any",
    "field.resolution_codes": {"admin"},
    "field.resolution_code_edit": {"admin"},
}
