"""Callbacks, KPIs and scorecards."""
