"""Inventory services: the only code that changes stock. Other packages call these, never the models.

- catalogue: items, places (station stores, technicians' vans, repair, customers, supplier, scrap),
  levels and units to read;
- ledger: `record_move`, the one way stock changes, and counts, receipts and reorder points on it;
- orders: parts used on repair orders (known by id only), loaners and faulty units collected;
- reports: verifying the ledger against the levels, parts consumption, CSV import and export.
"""
from core.db import now  # noqa: F401  (the clock pages compare due dates with)
from inventory.models import Item, Loan, Location, SerialUnit, StockLevel, StockMove  # noqa: F401
from inventory.services.catalogue import (  # noqa: F401
    all_items,
    ensure_locations,
    get_unit,
    item_by_sku,
    items_query,
    level_of,
    levels_query,
    location_by_code,
    locations_query,
    may_see_location,
    may_see_unit,
    save_item,
    store_of,
    unit_by_serial,
    unit_history,
    unit_loans,
    units_at,
    van_of,
    visible_location,
    visible_location_ids,
)
from inventory.services.ledger import cycle_count, receive_batch, record_move, set_reorder  # noqa: F401
from inventory.services.orders import (  # noqa: F401
    collect_faulty_unit,
    get_loan,
    issue_parts_for_order,
    lend_loaner,
    loans_query,
    remind_overdue_loans,
    return_loaner,
)
from inventory.services.reports import (  # noqa: F401
    LedgerDifference,
    LedgerReport,
    consumption_report,
    export_items_csv,
    export_levels_csv,
    import_counts_csv,
    import_items_csv,
    verify_ledger,
)
