"""field: periodic jobs — the outbox's Web Push delivery."""
from __future__ import annotations

from field import push


def deliver_push_alerts() -> dict[str, int]:
    """Send every due pending alert to its recipient's devices (claims rows; safe with several workers)."""
    return push.deliver_due()
