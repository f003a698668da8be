"""Who may call each dispatch route (see tests/authz_core.py)."""
STAFF = {"dispatcher", "supervisor", "admin"}
READERS = STAFF | {"technician"}

ROUTES = {
    "dispatch.index": STAFF,
    "dispatch_api.category_list": "any",
    "dispatch_api.create_order": STAFF,
    "dispatch_api.order_list": READERS,
    "dispatch_api.order_detail": READERS,
    "dispatch_api.order_assign": STAFF,
    "dispatch_api.order_transition": READERS,
    "dispatch_api.order_location": STAFF,
    "dispatch.new_order": STAFF,
    "dispatch.order_page": STAFF,
    "dispatch.order_transition": STAFF,
    "dispatch.order_assign": STAFF,
    "dispatch.order_location": STAFF,
    "dispatch.reveal_phone": STAFF,
    "dispatch.customer_page": STAFF,
    "dispatch.import_orders": STAFF,
    "dispatch.categories": {"admin"},
    "dispatch.category_new": {"admin"},
    "dispatch.category_edit": {"admin"},
}
