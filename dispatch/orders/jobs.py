"""Periodic jobs of repair orders: technicians' positions forgotten after the retention period."""
from __future__ import annotations


def position_retention() -> str:
    """Positions older than POSITION_RETENTION_DAYS are deleted."""
    from datetime import timedelta

    from flask import current_app

    from core.db import now
    from dispatch.orders.services.assignment import forget_positions

    days = int(current_app.config.get("POSITION_RETENTION_DAYS", 30))
    gone = forget_positions(now() - timedelta(days=days))
    return f"{gone['last_positions']} last positions, {gone['event_positions']} event positions older than {days} days removed"
