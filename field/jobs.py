"""field: periodic jobs — the outbox's Web Push delivery."""
from __future__ import annotations

from core.scheduler import job
from field import push


@job("push_delivery")
def deliver_push_alerts() -> dict[str, int]:
    """Send every due pending alert to its recipient's devices (claims rows; safe with several workers)."""
    return push.deliver_due()
