"""Periodic jobs of the deadline clock: warnings, escalations, incident detection.

Each returns a short summary that `flask --app app sla tick` prints. Every job selects what
is due and not yet done, so running it again (or after a crash, or late) is safe.
"""
from __future__ import annotations

from dispatch.deadlines.services import incidents, sla


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{value} {name}" for name, value in counts.items())


def deadline_warnings() -> str:
    """Warn technicians and dispatchers of orders inside their warning lead."""
    return _summary(sla.send_deadline_warnings())


def escalations() -> str:
    """Escalate breached orders to the station supervisor (level 1), then the centre managers (level 2)."""
    counts = sla.escalate_overdue_orders()
    return _summary(counts)


def incident_detection() -> str:
    """Open incidents for clusters of faults and link new faults near open incidents."""
    return _summary(incidents.detect_incidents())
