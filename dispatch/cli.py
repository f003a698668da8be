"""dispatch: commands and the demo step of this domain."""
from __future__ import annotations

from typing import Any, Callable

import core.demo  # noqa: F401  (stations, staff and customers load first)
from core.cli import demo_step
from dispatch import demo, services


@demo_step("orders")
def load_orders(seed: int, progress: Callable[..., Any]) -> None:
    """Categories, SLA policies, technicians' shifts and a realistic day of repair orders."""
    services.ensure_reference_data()
    demo.load_duty(seed)
    demo.load_orders(seed, progress)
