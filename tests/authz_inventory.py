"""Who may call each inventory route (see tests/authz_core.py)."""
KEEPERS = {"stockkeeper", "admin"}
VIEWERS = {"stockkeeper", "admin", "supervisor"}

ROUTES = {
    "inventory.index": VIEWERS | {"technician"},
    "inventory.export_levels": VIEWERS,
    "inventory.set_reorder": KEEPERS,
    "inventory.move_form": KEEPERS,
    "inventory.count": KEEPERS,
    "inventory.count_import": KEEPERS,
    "inventory.items": VIEWERS,
    "inventory.item_save": KEEPERS,
    "inventory.items_export": VIEWERS,
    "inventory.items_import": KEEPERS,
    "inventory.moves": VIEWERS,
    "inventory.moves_export": VIEWERS,
    "inventory.units": VIEWERS | {"technician"},
    "inventory.unit_detail": VIEWERS | {"technician"},
    "inventory.loans": VIEWERS,
    "inventory.loan_create": KEEPERS,
    "inventory.loan_return": KEEPERS,
    "inventory.report": VIEWERS,
    "inventory_api.item_list": "any",
    "inventory_api.location_list": "any",
    "inventory_api.stock_list": "any",
    "inventory_api.move_create": KEEPERS,
    "inventory_api.unit_detail": "any",
}
