"""Repair orders and everything about them, in four domains: orders/ (intake, assignment, the
life cycle), deadlines/ (the SLA clock, escalations, incidents, the board), reports/ (callbacks,
KPIs, scorecards) and livemap/ (the dispatcher's map)."""
