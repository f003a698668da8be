"""The texts the deadline ladder and the incident services store (timeline notes, alerts), by code.

Rendered in the reader's language when shown (core.messages); the rows keep the English text too.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.messages import Messages
from dispatch.orders.messages import REFS

MESSAGES = Messages({
    # timeline notes (OrderEvent.data["msg"])
    "sla.deadline_at": _l("Deadline at %(time)s"),
    "sla.escalated": _l("Deadline passed; escalated to level %(level)d"),
    "sla.acknowledged": _l("Escalation level %(level)d acknowledged"),
    "incident.linked": _l("Linked to incident #%(id)d"),
    "incident.restored": _l("Restored: mass outage fixed"),
    # alerts (Notification.message_code): (title, body)
    "alert.due_soon": (_l("Due soon: %(number)s"), _l("Restore by %(time)s — %(area)s")),
    "alert.overdue": (_l("Overdue (level %(level)d): %(number)s"), _l("Deadline was %(time)s — %(area)s")),
    "alert.incident": (_l("Mass outage suspected: incident #%(id)d"),
                       _l("%(count)d faults of one service line close together")),
}, refs=REFS)

stored = MESSAGES.stored
