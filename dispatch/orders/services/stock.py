"""Stock booked when an order is resolved, through inventory's services (dispatch → inventory, never back):
parts used come out of the technician's van, a loaner is lent, a faulty unit is collected.

Called by `transition(..., "resolve")`, so it runs inside `transition(..., "resolve")`'s transaction: a shortage
or a unit that is elsewhere refuses the whole resolution (409/422) and nothing changes.
"""
from __future__ import annotations

from typing import Any

from core.auth import User
from dispatch.orders.models import RepairOrder
from inventory import services as inventory


def book_resolution_stock(order: RepairOrder, resolution: dict[str, Any], actor: User) -> None:
    technician = order.technician or actor  # the parts leave the van of the technician on the job
    if resolution.get("parts"):
        inventory.issue_parts_for_order(order.id, technician, resolution["parts"], customer_id=order.customer_id)
    if resolution.get("loan"):
        inventory.lend_loaner(order.id, order.customer_id, resolution["loan"]["serial"], technician)
    if resolution.get("collected"):
        collected = resolution["collected"]
        inventory.collect_faulty_unit(collected["serial"], technician, sku=collected.get("sku"),
                                      customer_id=order.customer_id, order_id=order.id)
