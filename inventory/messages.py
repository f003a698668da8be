"""The alerts the stock services store, by code (core.messages): shown in the reader's language,
pushed in the recipient's; the rows keep the text as first rendered too."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.messages import Messages

MESSAGES = Messages({
    "alert.stock_low": (_l("Low stock: %(sku)s at %(code)s"),
                        _l("%(qty)d left, reorder point %(point)d; bring in %(n)d.")),
    "alert.loan_overdue": (_l("Loaner %(serial)s is overdue"), _l("Lent to customer %(acc)s, due %(due)s.")),
})

stored = MESSAGES.stored
