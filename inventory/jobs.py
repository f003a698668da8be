"""Periodic jobs of the inventory: overdue loaner reminders."""
from __future__ import annotations

from inventory import services


def loan_reminders() -> str:
    """Remind each overdue loan once (the loan row records it, the outbox key makes it unique)."""
    return f"{services.remind_overdue_loans()} overdue loans reminded"
