"""Repair orders: intake, assignment, deadlines, incidents, callbacks, reports, the map."""
