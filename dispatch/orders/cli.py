"""dispatch: commands and the demo step of this domain."""
from __future__ import annotations

from typing import Any, Callable

from dispatch.orders import demo, services


def load_orders(seed: int, progress: Callable[..., Any], size: str = "full") -> None:
    """Categories, SLA policies, technicians' shifts and a realistic day of repair orders."""
    services.ensure_reference_data()
    demo.load_duty(seed)
    demo.load_orders(seed, progress, count=demo.ORDERS if size == "full" else demo.ORDERS_SMALL)
