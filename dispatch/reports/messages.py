"""The timeline notes the callback services store, by code (core.messages): shown in the reader's
language; the rows keep the English text too."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.messages import Messages

MESSAGES = Messages({
    "callback.unreachable": _l("Customer unreachable after %(n)d callback attempts."),
    "callback.closed": _l("Closed after the callback."),
    "callback.reopened": _l("Reopened: the customer was not satisfied."),
    "callback.complaint_visit": _l("Closed after the callback; a complaint visit follows."),
})

stored = MESSAGES.stored
