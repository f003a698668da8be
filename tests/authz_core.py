"""Who may call each core route. The matrix test (tests/test_authz_matrix.py) reads every
tests/authz_*.py: a route of the app missing from these tables fails the suite.

Values: "public", "any" (any logged-in user), or a set of roles.
"""
ALL = {"admin", "supervisor", "dispatcher", "technician", "stockkeeper"}

ROUTES = {
    "core.home": "public",
    "core.login": "public",
    "core.logout": "any",
    "core.set_language": "public",
    "admin.index": {"admin"},
    "admin.users": {"admin"},
    "admin.user_edit": {"admin"},
    "admin.station_list": {"admin"},
    "admin.station_edit": {"admin"},
    "admin.station_check_area": {"admin"},
    "admin.customer_list": {"admin"},
    "admin.customer_edit": {"admin"},
    "admin.customer_import": {"admin"},
    "admin.customer_export": {"admin"},
    "admin.audit_log": {"admin"},
    "core_api.create_token": "public",
    "core_api.revoke_current_token": "any",
    "core_api.me": "any",
    "core_api.station_list": "any",
    "core_api.openapi": "public",
}
