"""Repair orders: intake, numbering, placement and assignment, the life cycle, CSV import, geocoding."""
