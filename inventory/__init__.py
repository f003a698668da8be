"""Spare equipment: items, locations, the stock ledger, serial units, loaners."""
